package xenstore

import (
	"errors"
	"fmt"
	"syscall"
)

// xsdErrors is the table of xs_wire.h in its order: Xenstore sends an
// error's name, never its number, and new names are appended at the end.
var xsdErrors = []struct {
	name  string
	errno syscall.Errno
}{
	{"EINVAL", syscall.EINVAL},
	{"EACCES", syscall.EACCES},
	{"EEXIST", syscall.EEXIST},
	{"EISDIR", syscall.EISDIR},
	{"ENOENT", syscall.ENOENT},
	{"ENOMEM", syscall.ENOMEM},
	{"ENOSPC", syscall.ENOSPC},
	{"EIO", syscall.EIO},
	{"ENOTEMPTY", syscall.ENOTEMPTY},
	{"ENOSYS", syscall.ENOSYS},
	{"EROFS", syscall.EROFS},
	{"EBUSY", syscall.EBUSY},
	{"EAGAIN", syscall.EAGAIN},
	{"EISCONN", syscall.EISCONN},
	{"E2BIG", syscall.E2BIG},
	{"EPERM", syscall.EPERM},
}

// Sentinel errors: the syscall.Errno values themselves, so that
// errors.Is(err, xenstore.ErrNotFound) and errors.Is(err, syscall.ENOENT)
// are the same test.
var (
	ErrNotFound     error = syscall.ENOENT
	ErrAccess       error = syscall.EACCES
	ErrAgain        error = syscall.EAGAIN // transaction conflict: retry
	ErrInvalid      error = syscall.EINVAL
	ErrTooBig       error = syscall.E2BIG  // quota (node size, watches) or reply too large
	ErrNoSpace      error = syscall.ENOSPC // quota (node count, transactions)
	ErrPerm         error = syscall.EPERM
	ErrExist        error = syscall.EEXIST
	ErrBusy         error = syscall.EBUSY
	ErrIsConn       error = syscall.EISCONN
	ErrIsDir        error = syscall.EISDIR
	ErrNoMem        error = syscall.ENOMEM
	ErrIO           error = syscall.EIO
	ErrNotEmpty     error = syscall.ENOTEMPTY
	ErrNotSupported error = syscall.ENOSYS
	ErrReadOnly     error = syscall.EROFS
)

// ErrnoName gives the wire name of an errno, or "" if Xenstore has none.
func ErrnoName(e syscall.Errno) string {
	for _, x := range xsdErrors {
		if x.errno == e {
			return x.name
		}
	}
	return ""
}

// ErrnoByName maps a wire name to its errno.
func ErrnoByName(name string) (syscall.Errno, bool) {
	for _, x := range xsdErrors {
		if x.name == name {
			return x.errno, true
		}
	}
	return 0, false
}

// Error is an ERROR reply: the operation, its path and the name the server
// sent. It unwraps to the syscall.Errno of that name, or to ErrIO with Name
// kept when the server sent a name Xenstore does not define.
type Error struct {
	Op    MsgType
	Path  string
	Name  string // the name as sent, e.g. "ENOENT"
	Errno syscall.Errno
}

func (e *Error) Error() string {
	p := ""
	if e.Path != "" {
		p = " " + e.Path
	}
	if known, ok := ErrnoByName(e.Name); ok && known == e.Errno {
		return fmt.Sprintf("xenstore %s%s: %s (%s)", e.Op, p, e.Errno.Error(), e.Name)
	}
	return fmt.Sprintf("xenstore %s%s: server sent unknown error %q", e.Op, p, e.Name)
}

func (e *Error) Unwrap() error { return e.Errno }

// parseErrorPayload turns an ERROR payload "ENAME\0" into an *Error.
func parseErrorPayload(op MsgType, path string, p []byte) *Error {
	name := string(TrimNUL(p))
	if len(name) > 32 {
		name = name[:32]
	}
	e := &Error{Op: op, Path: path, Name: name, Errno: syscall.EIO}
	if errno, ok := ErrnoByName(name); ok {
		e.Errno = errno
	}
	return e
}

// ErrorPayload is the ERROR payload for err: the name of the first
// syscall.Errno in its chain that Xenstore knows, else EIO.
func ErrorPayload(err error) []byte {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n := ErrnoName(errno); n != "" {
			return JoinStrings(n)
		}
	}
	return JoinStrings("EIO")
}

func errnoOf(e error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(e, &errno) {
		return errno
	}
	return syscall.EIO
}
