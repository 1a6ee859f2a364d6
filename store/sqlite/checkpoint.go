package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
)

// checkpointer copies the WAL back into the database file in the
// background.
//
// SQLite's automatic checkpoint runs inside the commit that takes the WAL
// past its threshold: that commit copies about a thousand pages and waits
// for two fsyncs (the WAL, then the database file) before it returns, and
// every writer of this process queues behind it on the write semaphore. The
// write connection therefore has automatic checkpoints turned off
// (wal_autocheckpoint=0), counts the WAL pages its commits append, and wakes
// this goroutine when they reach the threshold. The goroutine checkpoints
// on a connection of its own, in two steps:
//
//  1. A PASSIVE checkpoint, which takes no lock that writers need: it
//     copies the bulk of the WAL and does the fsyncs while commits go on.
//  2. A RESTART checkpoint while holding the write semaphore, so that no
//     writer of this process appends meanwhile. It copies only what was
//     committed during step 1 and then resets the WAL, so that the next
//     commit writes from the start of the file again. Without this step the
//     WAL would never be reused under steady writes and would grow without
//     bound: SQLite resets it only when a writer begins while every frame is
//     copied, which a checkpoint running beside a busy writer never achieves.
//     Step 2 waits at most restartWait for readers still using the WAL (or
//     another process's writer); if they outlast it, the reset is left to
//     the next round.
//
// Durability is unchanged: a commit is durable against a crash of the
// process once it is in the WAL, as before, and synchronous=NORMAL makes
// a checkpoint sync the WAL before it copies and the database file after,
// as the automatic checkpoint did. A checkpoint that fails or stops early
// loses nothing: the pages stay in the WAL and the next one copies them.
type checkpointer struct {
	db    *sql.DB       // one connection, used only here
	wsem  chan struct{} // the store's write semaphore
	pages int           // WAL pages that trigger a checkpoint

	// appended counts the pages committed since the last wake. Only
	// writers, which hold the write semaphore, touch it.
	appended int

	wake chan struct{} // buffered (1): a wake while busy runs one more
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	runs int   // rounds run, for tests
	err  error // the last round's error
}

// restartWait bounds how long the second step of a checkpoint waits for
// readers, holding the write semaphore. This store's read transactions last
// well under it.
const restartWait = 100 * time.Millisecond

func startCheckpointer(db *sql.DB, wsem chan struct{}, pages int) *checkpointer {
	c := &checkpointer{
		db: db, wsem: wsem, pages: pages,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go c.loop()
	return c
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		err := c.round(context.Background())
		c.mu.Lock()
		c.runs++
		c.err = err
		c.mu.Unlock()
	}
}

// round runs the two steps described at checkpointer.
func (c *checkpointer) round(ctx context.Context) error {
	if err := c.checkpoint(ctx, "PASSIVE"); err != nil {
		return err
	}
	select {
	case c.wsem <- struct{}{}:
	case <-c.stop:
		return nil
	}
	defer func() { <-c.wsem }()
	return c.checkpoint(ctx, "RESTART")
}

// checkpoint runs one checkpoint in mode. A checkpoint that could not
// finish for readers or another writer ("busy") is not an error.
func (c *checkpointer) checkpoint(ctx context.Context, mode string) error {
	var busy, log, copied int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &log, &copied); err != nil {
		return fmt.Errorf("sqlite: %s checkpoint: %w", mode, err)
	}
	return nil
}

// committed is called by a writer after each commit on w, holding the write
// semaphore. It adds the pages the commit appended to the WAL and wakes the
// goroutine once they reach the threshold.
func (c *checkpointer) committed(ctx context.Context, w *sql.DB) {
	n, err := walPagesWritten(ctx, w)
	if err != nil {
		// Unknown: err on the side of a checkpoint, which is harmless.
		n = c.pages
	}
	c.appended += n
	if c.appended < c.pages {
		return
	}
	c.appended = 0
	select {
	case c.wake <- struct{}{}:
	default: // one is already pending
	}
}

// walPagesWritten returns the pages the connection of w wrote since the
// last call (in WAL mode, the WAL frames it appended) and resets the count.
func walPagesWritten(ctx context.Context, w *sql.DB) (int, error) {
	conn, err := w.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int
	err = conn.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("sqlite: driver connection %T has no status", dc)
		}
		var err error
		n, _, err = st.Status(sqlite.DBStatusCacheWrite, true)
		return err
	})
	return n, err
}

// close stops the goroutine (waiting for a running checkpoint to end) and
// closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}

// stats returns how many checkpoints ran and the last one's error.
func (c *checkpointer) stats() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs, c.err
}
