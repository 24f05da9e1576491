package xenstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EventKind says what a watch event means.
type EventKind uint8

const (
	// EventChange: something at or below Path changed (or the watch was
	// just registered: Xenstore fires once on registration). Re-read.
	EventChange EventKind = iota
	// EventOverflow: the consumer fell behind and pending events were
	// collapsed into this one. Re-read everything under the watch.
	EventOverflow
	// EventReconnected: the connection dropped and was re-established and
	// the watch re-registered; changes in the gap were not seen. Re-read.
	EventReconnected
)

func (k EventKind) String() string {
	switch k {
	case EventChange:
		return "change"
	case EventOverflow:
		return "overflow"
	case EventReconnected:
		return "reconnected"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one watch notification. A watch says "something changed", not
// what: consumers re-read what they care about.
type Event struct {
	Kind  EventKind
	Path  string // the changed path as Xenstore sent it (relative if the watch is)
	Token string
	// Conn is the connection the event came on: 1 for the first, one more
	// for each reconnection. An event on a connection not seen before is
	// the registration's (or the reconnection's) burst; one on a known
	// connection is a change.
	Conn uint64
}

// Watch is a registered watch. Its channel is closed when the watch ends
// (Unwatch, the Watch context, Close, or the server refusing it after a
// reconnection); Err then says why.
type Watch struct {
	c     *Client
	Path  string
	Token string

	ch     chan Event
	notify chan struct{}
	done   chan struct{}
	max    int

	mu    sync.Mutex
	queue []Event
	err   error
	once  sync.Once
}

// Events is the watch's channel.
func (w *Watch) Events() <-chan Event { return w.ch }

// Err is why the watch ended, nil while it runs or after Unwatch.
func (w *Watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Watch registers a watch on path (or a special path such as
// @introduceDomain) under token. Events flow until ctx is done or Unwatch
// is called. An empty token gets a unique one. The first event is the one
// Xenstore fires on registration.
func (c *Client) Watch(ctx context.Context, path, token string) (*Watch, error) {
	if err := checkPath(TypeWatch, path); err != nil {
		return nil, err
	}
	c.wmu.Lock()
	if token == "" {
		c.tokenN++
		token = "xenradclock/" + strconv.FormatUint(c.tokenN, 10)
	}
	c.wmu.Unlock()
	if strings.IndexByte(token, 0) >= 0 {
		return nil, &Error{Op: TypeWatch, Path: path, Name: "EINVAL", Errno: errnoOf(ErrInvalid)}
	}
	w := &Watch{c: c, Path: path, Token: token, ch: make(chan Event), notify: make(chan struct{}, 1),
		done: make(chan struct{}), max: c.opts.watchBuffer}
	// Registered before the request so the registration event finds it.
	c.wmu.Lock()
	c.watches[w] = struct{}{}
	c.wmu.Unlock()
	if _, err := c.request(ctx, nil, TypeWatch, path, JoinStrings(path, token)); err != nil {
		c.wmu.Lock()
		delete(c.watches, w)
		c.wmu.Unlock()
		if ctx.Err() != nil {
			// Given up after sending: the server may have registered it.
			c.mu.Lock()
			cn := c.conn
			c.mu.Unlock()
			if cn != nil {
				go c.abandon(cn, TypeUnwatch, 0, path, JoinStrings(path, token))
			}
		}
		return nil, err
	}
	go w.pump()
	go func() {
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = w.Unwatch(uctx)
			cancel()
		case <-w.done:
		}
	}()
	return w, nil
}

// Unwatch removes the watch from the server and closes its channel.
func (w *Watch) Unwatch(ctx context.Context) error {
	c := w.c
	c.wmu.Lock()
	_, live := c.watches[w]
	delete(c.watches, w)
	c.wmu.Unlock()
	w.stop(nil)
	if !live {
		return nil
	}
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	if cn == nil {
		return nil // the server forgot it with the connection
	}
	_, err := c.roundTrip(ctx, cn, TypeUnwatch, 0, w.Path, JoinStrings(w.Path, w.Token))
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

func (w *Watch) stop(err error) {
	w.once.Do(func() {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		close(w.done)
	})
}

// push queues an event without ever blocking the reader: identical pending
// events are coalesced, and when more than max distinct events are pending
// they collapse into one EventOverflow.
func (w *Watch) push(ev Event) {
	w.mu.Lock()
	dup := false
	for _, q := range w.queue {
		if q == ev || (q.Kind == EventOverflow && ev.Kind == EventChange) {
			dup = true
			break
		}
	}
	if !dup {
		if len(w.queue) >= w.max {
			w.queue = append(w.queue[:0], Event{Kind: EventOverflow, Path: w.Path, Token: w.Token})
		} else {
			w.queue = append(w.queue, ev)
		}
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *Watch) pump() {
	defer close(w.ch)
	for {
		w.mu.Lock()
		var ev Event
		have := len(w.queue) > 0
		if have {
			ev = w.queue[0]
			w.queue = w.queue[1:]
		}
		w.mu.Unlock()
		if !have {
			select {
			case <-w.notify:
				continue
			case <-w.done:
				return
			}
		}
		select {
		case w.ch <- ev:
		case <-w.done:
			return
		}
	}
}

// dispatch routes a WATCH_EVENT to the watches with its token whose path
// covers the event's path.
func (c *Client) dispatch(cn *connection, m Msg) {
	path, token, err := ParseWatchEvent(m.Payload)
	if err != nil {
		c.log.Warn("dropping malformed WATCH_EVENT")
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for w := range c.watches {
		if w.Token == token && covers(w.Path, path) {
			w.push(Event{Kind: EventChange, Path: path, Token: token, Conn: cn.gen})
		}
	}
}

// covers reports whether an event at path belongs to a watch on wpath. A
// watch on a node also fires for removals of its parents, reported as
// wpath itself, so equality and descent both count; "/" covers all.
func covers(wpath, path string) bool {
	if wpath == path || wpath == "/" {
		return true
	}
	return strings.HasPrefix(path, wpath) && (strings.HasSuffix(wpath, "/") || path[len(wpath)] == '/')
}
