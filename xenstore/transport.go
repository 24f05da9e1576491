package xenstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// Where libxenstore looks, in its order: the Dom0 daemon's socket (Debian
// 12 compiles in /var/run/xenstored; /run/xenstored is the same directory
// on systemd hosts), then the guest device (xenfs's /proc path on old
// kernels).
var (
	DefaultSocketPaths = []string{"/run/xenstored/socket", "/var/run/xenstored/socket"}
	DefaultDevicePaths = []string{"/dev/xen/xenbus", "/proc/xen/xenbus"}
)

// Dial connects to Xenstore the way libxenstore does. XENSTORED_PATH, when
// set, is the only candidate (a socket or a device, told apart by stat);
// otherwise the sockets, then the devices. The error names every path tried
// and why it failed.
func Dial(ctx context.Context, opt ...Option) (*Client, error) {
	var cands []string
	if p := os.Getenv("XENSTORED_PATH"); p != "" {
		cands = []string{p}
	} else {
		if d := os.Getenv("XENSTORED_RUNDIR"); d != "" {
			cands = append(cands, strings.TrimRight(d, "/")+"/socket")
		}
		cands = append(cands, DefaultSocketPaths...)
		cands = append(cands, DefaultDevicePaths...)
	}
	var tried []string
	for _, p := range cands {
		fi, err := os.Stat(p)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", p, errors.Unwrap(err)))
			continue
		}
		var c *Client
		if fi.Mode()&os.ModeSocket != 0 {
			c, err = DialSocket(ctx, p, opt...)
		} else {
			c, err = DialDevice(ctx, p, opt...)
		}
		if err == nil {
			return c, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
	}
	return nil, fmt.Errorf("xenstore: no Xenstore found; tried %s (set XENSTORED_PATH to a xenstored socket or the xenbus device)", strings.Join(tried, ", "))
}

// DialSocket connects to a xenstored Unix socket. The connection acts as
// the domain the server assigns to that socket (domain 0 for xenstored's).
func DialSocket(ctx context.Context, path string, opt ...Option) (*Client, error) {
	dial := func() (io.ReadWriteCloser, error) {
		var d net.Dialer
		return d.DialContext(context.Background(), "unix", path)
	}
	var d net.Dialer
	first, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("xenstore: connecting to socket %s: %w", path, err)
	}
	used := false
	return newClient(path, false, func() (io.ReadWriteCloser, error) {
		if !used {
			used = true
			return first, nil
		}
		return dial()
	}, opt)
}

// DialDevice opens the xenbus device of a guest (or of a Dom0 whose
// xenstored runs in a stub domain). The kernel shares the domain's one
// connection with its own watches, so this client never sends
// RESET_WATCHES, INTRODUCE, RELEASE or RESUME on it, and its payloads are
// limited to DevicePayloadMax.
func DialDevice(ctx context.Context, path string, opt ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	open := func() (io.ReadWriteCloser, error) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("xenstore: opening device %s: %w", path, err)
		}
		return f, nil
	}
	return newClient(path, true, open, opt)
}
