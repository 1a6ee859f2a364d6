package jit

import (
	"context"
	"time"
)

// Limits of RecordStore. Records are small bookkeeping (where a message was
// posted), so the limits are tight: a store never holds large blobs for an
// integration, and keys fit in any database's index.
const (
	MaxRecordNamespace = 64
	MaxRecordKey       = 256
	MaxRecordValue     = 64 << 10
)

// RecordStore is an optional capability of stores: small versioned records
// that integrations keep (the Slack app's message positions), by namespace
// and key, with optimistic concurrency.
//
// A record's revision starts at 1 and grows by one with each write, so a
// caller that read revision n and writes with rev n wins over any other
// writer that read the same revision. Every method returns ECodeInvalid
// (with nothing written) for a namespace that is empty or longer than
// MaxRecordNamespace bytes, a key that is empty or longer than
// MaxRecordKey bytes, a value longer than MaxRecordValue bytes, a negative
// rev or a zero before; and ECodeUnavailable when the database cannot be
// reached.
type RecordStore interface {
	// GetRecord returns the value and revision of a record, or ECodeNotFound.
	GetRecord(ctx context.Context, namespace, key string) (value []byte, rev int64, err error)
	// PutRecord writes a record: with rev 0 it inserts (ECodeConflict when the record exists), otherwise it replaces the record only if its stored revision is rev (ECodeConflict otherwise, ECodeNotFound if it is gone). It returns the new revision.
	//
	// It is not idempotent: repeating a write that succeeded fails with
	// ECodeConflict, because the revision has moved. The store stamps the
	// record with its own clock, which DeleteRecords compares with.
	PutRecord(ctx context.Context, namespace, key string, value []byte, rev int64) (int64, error)
	// DeleteRecords removes the records of namespace not updated since before (housekeeping); it returns how many.
	//
	// A record written exactly at before is kept. Repeating a call is
	// harmless: it finds nothing more to remove.
	DeleteRecords(ctx context.Context, namespace string, before time.Time) (int, error)
}

// CheckRecordKey returns an ECodeInvalid error unless namespace and key are
// within the limits of RecordStore.
func CheckRecordKey(namespace, key string) error {
	switch {
	case namespace == "" || len(namespace) > MaxRecordNamespace:
		return FieldErrorf("namespace", ECodeInvalid, "record namespace must be 1 to %d bytes, not %d", MaxRecordNamespace, len(namespace))
	case key == "" || len(key) > MaxRecordKey:
		// The message gives the length only: keys may be derived from
		// request IDs or channel names the log need not repeat.
		return FieldErrorf("key", ECodeInvalid, "record key must be 1 to %d bytes, not %d", MaxRecordKey, len(key))
	}
	return nil
}

// CheckRecordPut returns an ECodeInvalid error unless the arguments of
// PutRecord are within the limits of RecordStore.
func CheckRecordPut(namespace, key string, value []byte, rev int64) error {
	if err := CheckRecordKey(namespace, key); err != nil {
		return err
	}
	switch {
	case len(value) > MaxRecordValue:
		return FieldErrorf("value", ECodeInvalid, "record value of %d bytes is over the limit of %d", len(value), MaxRecordValue)
	case rev < 0:
		return FieldErrorf("rev", ECodeInvalid, "record revision %d must not be negative", rev)
	}
	return nil
}

// CheckRecordDelete returns an ECodeInvalid error unless the arguments of
// DeleteRecords are valid.
func CheckRecordDelete(namespace string, before time.Time) error {
	if namespace == "" || len(namespace) > MaxRecordNamespace {
		return FieldErrorf("namespace", ECodeInvalid, "record namespace must be 1 to %d bytes, not %d", MaxRecordNamespace, len(namespace))
	}
	if before.IsZero() {
		// A zero cut-off would remove nothing; it is a caller's bug.
		return FieldErrorf("before", ECodeInvalid, "deleting records needs a cut-off time")
	}
	return nil
}
