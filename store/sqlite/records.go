package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jitaccess/jit"
)

var _ jit.RecordStore = (*Store)(nil)

// Record statements. The writes run on the write connection, queued with
// the other writes (see writer.go), so each sees the record as the last
// committed write left it: the single writer decides every race.
const (
	getRecordQuery    = `SELECT value, rev FROM records WHERE namespace = ? AND key = ?`
	insertRecordQuery = `INSERT INTO records (namespace, key, value, rev, updated_at) VALUES (?, ?, ?, 1, ?)
		ON CONFLICT (namespace, key) DO NOTHING`
	updateRecordQuery = `UPDATE records SET value = ?, rev = rev + 1, updated_at = ?
		WHERE namespace = ? AND key = ? AND rev = ?`
	recordExistsQuery  = `SELECT count(*) FROM records WHERE namespace = ? AND key = ?`
	deleteRecordsQuery = `DELETE FROM records WHERE namespace = ? AND updated_at < ?`
)

// GetRecord returns the value and revision of the record namespace/key.
// Errors: ECodeInvalid for a namespace or key out of limits, ECodeNotFound
// when there is no such record.
func (s *Store) GetRecord(ctx context.Context, namespace, key string) ([]byte, int64, error) {
	if err := jit.CheckRecordKey(namespace, key); err != nil {
		return nil, 0, err
	}
	var (
		value []byte
		rev   int64
	)
	err := s.rs.queryRow(ctx, getRecordQuery, namespace, key).Scan(&value, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, jit.Errorf(jit.ECodeNotFound, "record %q/%q not found", namespace, key)
	} else if err != nil {
		return nil, 0, fmt.Errorf("sqlite: get record: %w", err)
	}
	return value, rev, nil
}

// PutRecord writes the record namespace/key, stamped with the store's
// clock, and returns its new revision: with rev 0 it inserts the record at
// revision 1, otherwise it replaces the record at revision rev. Errors:
// ECodeInvalid for arguments out of limits, ECodeConflict when inserting a
// record that exists or replacing one whose revision is not rev (another
// writer got there first), ECodeNotFound when replacing a record that is
// gone. Nothing is written on error; a repeated successful write fails with
// ECodeConflict.
func (s *Store) PutRecord(ctx context.Context, namespace, key string, value []byte, rev int64) (int64, error) {
	if err := jit.CheckRecordPut(namespace, key, value, rev); err != nil {
		return 0, err
	}
	if value == nil {
		// The driver binds a nil slice as NULL; an empty value is still a
		// value.
		value = []byte{}
	}
	now := s.cfg.Clock.Now().UnixMicro()
	var newRev int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
		if rev == 0 {
			res, err := s.ws.txExec(ctx, tx, insertRecordQuery, namespace, key, value, now)
			if err != nil {
				return fmt.Errorf("sqlite: insert record: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("sqlite: insert record: %w", err)
			} else if n == 0 {
				return jit.Errorf(jit.ECodeConflict, "record %q/%q already exists", namespace, key)
			}
			newRev = 1
			return nil
		}
		res, err := s.ws.txExec(ctx, tx, updateRecordQuery, value, now, namespace, key, rev)
		if err != nil {
			return fmt.Errorf("sqlite: update record: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: update record: %w", err)
		} else if n == 1 {
			newRev = rev + 1
			return nil
		}
		// Under the write lock nothing changes between the update and
		// this check, so the answer is exact.
		var exists int
		if err := s.ws.txQueryRow(ctx, tx, recordExistsQuery, namespace, key).Scan(&exists); err != nil {
			return fmt.Errorf("sqlite: update record: %w", err)
		}
		if exists == 0 {
			return jit.Errorf(jit.ECodeNotFound, "record %q/%q not found", namespace, key)
		}
		return jit.Errorf(jit.ECodeConflict, "record %q/%q is no longer at revision %d", namespace, key, rev)
	}, nil)
	if err != nil {
		return 0, err
	}
	return newRev, nil
}

// DeleteRecords removes the records of namespace last written before
// before (compared at microseconds, the precision records are stamped at)
// and returns how many it removed. Errors: ECodeInvalid for a namespace out
// of limits or a zero before. Repeating a call removes nothing more.
func (s *Store) DeleteRecords(ctx context.Context, namespace string, before time.Time) (int, error) {
	if err := jit.CheckRecordDelete(namespace, before); err != nil {
		return 0, err
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx, _ *chainHead) error {
		res, err := s.ws.txExec(ctx, tx, deleteRecordsQuery, namespace, before.UnixMicro())
		if err != nil {
			return fmt.Errorf("sqlite: delete records: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: delete records: %w", err)
		}
		return nil
	}, nil)
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
