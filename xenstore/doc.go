// Package xenstore is a Xenstore client speaking the wire protocol of Xen's
// xs_wire.h, over xenstored's Unix socket (Dom0) or /dev/xen/xenbus (a
// guest), and the wire codec shared with the embedded server (package
// xenstore/xsd). docs/xenstore.md documents the protocol byte for byte.
//
// # Connecting
//
//	c, err := xenstore.Dial(ctx)                      // as libxenstore: XENSTORED_PATH, sockets, then device
//	c, err := xenstore.DialSocket(ctx, "/run/xenstored/socket", xenstore.WithLogger(log))
//	c, err := xenstore.DialDevice(ctx, "/dev/xen/xenbus")
//	defer c.Close()
//
// Dial tries XENSTORED_PATH alone when it is set, else /run/xenstored/socket,
// /var/run/xenstored/socket, /dev/xen/xenbus and /proc/xen/xenbus, and fails
// with an error naming every path tried. Options: WithLogger (zap),
// WithBackoff (reconnection), WithWatchBuffer, WithTransactionRetries,
// WithoutReconnect.
//
// # Operations
//
// A Client is safe for any number of goroutines: requests are multiplexed
// over the one connection by request id, and a single reader goroutine
// routes replies to their callers and watch events to their watches. Every
// call takes a context that bounds its wait.
//
//	v, err := c.Read(ctx, "/xenradclock/clock")      // []byte
//	err = c.Write(ctx, "/xenradclock/clock", rec)    // creates missing parents
//	err = c.Mkdir(ctx, "/xenradclock")
//	err = c.Rm(ctx, "/xenradclock")                  // recursive
//	names, err := c.Directory(ctx, "/local/domain")  // DIRECTORY_PART when long
//	ps, err := c.GetPerms(ctx, p)                    // xenstore.Perms
//	err = c.SetPerms(ctx, p, xenstore.Perms{{Domid: 0, Access: xenstore.AccessRead}}) // "r0"
//	home, err := c.GetDomainPath(ctx, 5)             // "/local/domain/5"
//	ok, err := c.IsDomainIntroduced(ctx, 5)
//	me, err := c.OwnDomid(ctx)                       // reads the relative path "domid"
//
// Relative paths (no leading '/') resolve below /local/domain/<own domid>.
// Permissions parse from and print to Xen's syntax with ParsePerm,
// ParsePerms ("n0,r5") and Perms.String; the first entry is the owner and
// the access of every domain without its own entry.
//
// # Errors
//
// Server errors are *Error values that unwrap to the syscall.Errno of the
// name the server sent, so errors.Is(err, syscall.ENOENT) and
// errors.Is(err, xenstore.ErrNotFound) both work (ErrAccess, ErrAgain,
// ErrTooBig, ErrNoSpace, ErrPerm, ErrExist, ... likewise). A call in flight
// when the connection drops fails with ErrConnectionLost (it may or may not
// have taken effect); calls after Close fail with ErrClosed. Payloads over
// 4096 bytes (4080 on the xenbus device) are refused locally with E2BIG
// instead of being sent, since xenstored drops a connection that sends one.
//
// # Watches
//
//	w, err := c.Watch(ctx, "/xenradclock/clock", "clock")
//	for ev := range w.Events() { ... re-read ... }     // closed when ctx ends or on Unwatch
//	err = w.Unwatch(ctx)
//
// The first event is the one Xenstore fires on registration. Special paths
// "@introduceDomain" and "@releaseDomain" work the same. An event says
// "something at or below the path changed", never what: re-read. Events
// never block the reader: each watch buffers up to WithWatchBuffer distinct
// pending events (identical ones coalesce) and collapses them into one
// EventOverflow when a consumer falls further behind.
//
// # Reconnection
//
// When the connection drops (server restart, live update, socket error)
// the client redials with exponential backoff, re-registers its watches,
// then delivers an EventReconnected on every watch channel and closes the
// channel returned by Reconnected, so that node owners re-publish:
//
//	ch := c.Reconnected()
//	publish()
//	for { select { case <-ch: ch = c.Reconnected(); publish() ... } }
//
// Calls made while disconnected wait (within their context) for the new
// connection. A watch the server refuses after reconnection ends with its
// channel closed and Err set.
//
// # Transactions
//
//	err = c.Transaction(ctx, func(tx *xenstore.Tx) error {
//		v, err := tx.Read(ctx, "/a")
//		...
//		return tx.Write(ctx, "/b", v)
//	})
//
// Transaction commits and redoes fn on EAGAIN (a conflict) with a short
// randomised backoff; fn must be safe to run more than once.
//
// # Guests
//
// On /dev/xen/xenbus the connection is shared with the guest kernel's own
// watches: this client never sends RESET_WATCHES (ResetWatches returns
// ErrDevice), INTRODUCE, RELEASE or RESUME, and removes only the watches it
// registered. A guest learns its domid with OwnDomid; watching the relative
// path "domid" reveals a change after migration.
package xenstore
