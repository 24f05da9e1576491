package xenstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Tx is an open transaction. Its operations see the transaction's view and
// take effect together at Commit, which fails with ErrAgain (EAGAIN) when a
// node the transaction used was changed meanwhile: redo the whole
// transaction (Client.Transaction does). A Tx belongs to one goroutine.
type Tx struct {
	c          *Client
	id         uint32
	cn         *connection
	ended      bool
	commitSent bool // a commit left: its outcome is unknown if the reply is lost
}

// ID is the transaction id the server assigned.
func (t *Tx) ID() uint32 { return t.id }

// StartTransaction opens a transaction. Prefer Client.Transaction.
func (c *Client) StartTransaction(ctx context.Context) (*Tx, error) {
	cn, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	m, err := c.roundTrip(ctx, cn, TypeTransactionStart, 0, "", JoinStrings(""))
	if err != nil {
		return nil, err
	}
	id, perr := strconv.ParseUint(string(TrimNUL(m.Payload)), 10, 32)
	if perr != nil || id == 0 {
		return nil, fmt.Errorf("xenstore TRANSACTION_START: %w: reply %q", ErrMalformed, m.Payload)
	}
	return &Tx{c: c, id: uint32(id), cn: cn}, nil
}

var errTxEnded = errors.New("xenstore: transaction already ended")

func (t *Tx) request(ctx context.Context, typ MsgType, path string, payload []byte) (Msg, error) {
	if t.ended {
		return Msg{}, errTxEnded
	}
	return t.c.roundTrip(ctx, t.cn, typ, t.id, path, payload)
}

func (t *Tx) end(ctx context.Context, commit bool) error {
	if t.ended {
		return errTxEnded
	}
	arg := "F"
	if commit {
		arg = "T"
	}
	t.commitSent = commit
	_, err := t.c.roundTrip(ctx, t.cn, TypeTransactionEnd, t.id, "", JoinStrings(arg))
	t.ended = true
	return err
}

// Commit ends the transaction, applying its changes. ErrAgain means a
// conflict: nothing was applied.
func (t *Tx) Commit(ctx context.Context) error { return t.end(ctx, true) }

// Abort ends the transaction, discarding its changes.
func (t *Tx) Abort(ctx context.Context) error { return t.end(ctx, false) }

// Read, Write, Mkdir, Rm, Directory, GetPerms and SetPerms work as the
// Client's, inside the transaction.
func (t *Tx) Read(ctx context.Context, path string) ([]byte, error) {
	return ops{c: t.c, tx: t}.read(ctx, path)
}

func (t *Tx) Write(ctx context.Context, path string, value []byte) error {
	return ops{c: t.c, tx: t}.write(ctx, path, value)
}

func (t *Tx) Mkdir(ctx context.Context, path string) error {
	return ops{c: t.c, tx: t}.simple(ctx, TypeMkdir, path)
}

func (t *Tx) Rm(ctx context.Context, path string) error {
	return ops{c: t.c, tx: t}.simple(ctx, TypeRm, path)
}

func (t *Tx) Directory(ctx context.Context, path string) ([]string, error) {
	return ops{c: t.c, tx: t}.directory(ctx, path)
}

func (t *Tx) GetPerms(ctx context.Context, path string) (Perms, error) {
	return ops{c: t.c, tx: t}.getPerms(ctx, path)
}

func (t *Tx) SetPerms(ctx context.Context, path string, ps Perms) error {
	return ops{c: t.c, tx: t}.setPerms(ctx, path, ps)
}

// Transaction runs fn in a transaction and commits it, redoing both on
// EAGAIN (with a short randomised backoff) up to the configured number of
// retries. If fn returns an error the transaction is aborted and the error
// returned. A connection lost before the commit was sent is retried too;
// one lost during the commit is returned (ErrConnectionLost), because
// whether the commit happened is unknown.
func (c *Client) Transaction(ctx context.Context, fn func(*Tx) error) error {
	backoff := time.Millisecond
	var last error
	for attempt := 0; attempt <= c.opts.txRetries; attempt++ {
		if attempt > 0 {
			d := backoff/2 + rand.N(backoff)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("xenstore: transaction: %w (last: %v)", ctx.Err(), last)
			case <-t.C:
			}
			backoff = min(2*backoff, 100*time.Millisecond)
		}
		tx, err := c.StartTransaction(ctx)
		if err != nil {
			if errors.Is(err, ErrConnectionLost) {
				last = err
				continue
			}
			return err
		}
		if err := fn(tx); err != nil {
			if !tx.ended {
				_ = tx.Abort(ctx)
			}
			if errors.Is(err, ErrAgain) || (errors.Is(err, ErrConnectionLost) && !tx.commitSent) {
				last = err
				continue
			}
			return err
		}
		if tx.ended {
			return fmt.Errorf("xenstore: transaction function ended the transaction itself")
		}
		err = tx.Commit(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrAgain) {
			last = err
			continue
		}
		return err
	}
	return fmt.Errorf("xenstore: transaction gave up after %d retries: %w", c.opts.txRetries, last)
}
