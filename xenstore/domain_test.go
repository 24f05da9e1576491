package xenstore_test

import (
	"syscall"
	"testing"

	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

// TestIntroduceRelease drives the toolstack operations through the client:
// Dom0 introduces and releases a domain; a guest may do neither.
func TestIntroduceRelease(t *testing.T) {
	e := newEnv(t, xsd.Config{})
	ctx := ctxT(t)
	dom0 := e.dial(e.sock)
	guest := e.dial(e.dom5)

	must(t, dom0.Introduce(ctx, 9, 0, 0))
	if in, err := dom0.IsDomainIntroduced(ctx, 9); err != nil || !in {
		t.Fatalf("after Introduce: introduced %v, %v; want true", in, err)
	}
	wantErrno(t, guest.Introduce(ctx, 10, 0, 0), syscall.EACCES)
	wantErrno(t, guest.Release(ctx, 9), syscall.EACCES)
	must(t, dom0.Release(ctx, 9))
	if in, err := dom0.IsDomainIntroduced(ctx, 9); err != nil || in {
		t.Fatalf("after Release: introduced %v, %v; want false", in, err)
	}
	wantErrno(t, dom0.Release(ctx, 9), syscall.ENOENT)
}
