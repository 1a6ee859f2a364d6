package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitaccess/jit"
)

var _ jit.RecordStore = (*Store)(nil)

// Records are written straight through the pool, outside the group commit
// of Apply: each write is one statement whose WHERE clause (or ON CONFLICT)
// decides the race, so it needs neither a transaction of its own nor the
// audit chain's lock.
const (
	getRecordQuery    = `SELECT value, rev FROM records WHERE namespace = $1 AND key = $2`
	insertRecordQuery = `INSERT INTO records (namespace, key, value, rev, updated_at) VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (namespace, key) DO NOTHING RETURNING rev`
	// updateRecordQuery replaces the record only at revision $5, and says
	// in the same statement (one snapshot) whether the record exists, so
	// that a miss is told apart without a second round trip. Of two
	// writers at one revision, the second waits for the first's row lock,
	// then re-checks rev against the committed row and matches nothing.
	updateRecordQuery = `WITH upd AS (
			UPDATE records SET value = $3, rev = rev + 1, updated_at = $4
			WHERE namespace = $1 AND key = $2 AND rev = $5 RETURNING rev
		)
		SELECT (SELECT rev FROM upd), EXISTS (SELECT 1 FROM records WHERE namespace = $1 AND key = $2)`
	deleteRecordsQuery = `DELETE FROM records WHERE namespace = $1 AND updated_at < $2`
)

// GetRecord returns the value and revision of the record namespace/key.
// Errors: ECodeInvalid for a namespace or key out of limits, ECodeNotFound
// when there is no such record, ECodeUnavailable when the database cannot
// be reached.
func (s *Store) GetRecord(ctx context.Context, namespace, key string) ([]byte, int64, error) {
	if err := jit.CheckRecordKey(namespace, key); err != nil {
		return nil, 0, err
	}
	var (
		value []byte
		rev   int64
	)
	err := s.pool.QueryRow(ctx, getRecordQuery, namespace, key).Scan(&value, &rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, jit.Errorf(jit.ECodeNotFound, "record %q/%q not found", namespace, key)
	} else if err != nil {
		return nil, 0, mapReadErr("get record", err)
	}
	return value, rev, nil
}

// PutRecord writes the record namespace/key, stamped with the store's
// clock, and returns its new revision: with rev 0 it inserts the record at
// revision 1, otherwise it replaces the record at revision rev. Errors:
// ECodeInvalid for arguments out of limits, ECodeConflict when inserting a
// record that exists or replacing one whose revision is not rev (another
// writer got there first), ECodeNotFound when replacing a record that is
// gone, ECodeUnavailable when the database cannot be reached. Nothing is
// written on error; a repeated successful write fails with ECodeConflict.
func (s *Store) PutRecord(ctx context.Context, namespace, key string, value []byte, rev int64) (int64, error) {
	if err := jit.CheckRecordPut(namespace, key, value, rev); err != nil {
		return 0, err
	}
	if value == nil {
		// pgx sends a nil slice as NULL; an empty value is still a value.
		value = []byte{}
	}
	now := ts(s.cfg.Clock.Now())
	if rev == 0 {
		var got int64
		err := s.pool.QueryRow(ctx, insertRecordQuery, namespace, key, value, now).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, jit.Errorf(jit.ECodeConflict, "record %q/%q already exists", namespace, key)
		} else if err != nil {
			return 0, mapWriteErr("insert record", err)
		}
		return got, nil
	}
	var (
		got    *int64
		exists bool
	)
	if err := s.pool.QueryRow(ctx, updateRecordQuery, namespace, key, value, now, rev).Scan(&got, &exists); err != nil {
		return 0, mapWriteErr("update record", err)
	}
	switch {
	case got != nil:
		return *got, nil
	case !exists:
		return 0, jit.Errorf(jit.ECodeNotFound, "record %q/%q not found", namespace, key)
	default:
		return 0, jit.Errorf(jit.ECodeConflict, "record %q/%q is no longer at revision %d", namespace, key, rev)
	}
}

// DeleteRecords removes the records of namespace last written before
// before (compared at microseconds, the precision records are stamped at)
// and returns how many it removed. Errors: ECodeInvalid for a namespace out
// of limits or a zero before, ECodeUnavailable when the database cannot be
// reached. Repeating a call removes nothing more.
func (s *Store) DeleteRecords(ctx context.Context, namespace string, before time.Time) (int, error) {
	if err := jit.CheckRecordDelete(namespace, before); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, deleteRecordsQuery, namespace, ts(before))
	if err != nil {
		return 0, mapWriteErr("delete records", err)
	}
	return int(tag.RowsAffected()), nil
}
