package xenstore

import (
	"context"
	"strconv"
)

// Toolstack operations: what xl does when it creates, migrates or destroys
// a domain. Only Dom0 may send them; a guest's connection gets EACCES.

// Introduce tells Xenstore about domain domid (INTRODUCE), with the machine
// frame of its Xenstore ring and its event channel. A server without rings
// (the embedded one) ignores mfn and port; Xen's xenstored maps them.
func (c *Client) Introduce(ctx context.Context, domid uint32, mfn uint64, port uint32) error {
	d := strconv.FormatUint(uint64(domid), 10)
	_, err := c.request(ctx, nil, TypeIntroduce, d,
		JoinStrings(d, strconv.FormatUint(mfn, 10), strconv.FormatUint(uint64(port), 10)))
	return err
}

// Release tells Xenstore that domain domid is gone (RELEASE): its
// connections end and @releaseDomain fires.
func (c *Client) Release(ctx context.Context, domid uint32) error {
	d := strconv.FormatUint(uint64(domid), 10)
	_, err := c.request(ctx, nil, TypeRelease, d, JoinStrings(d))
	return err
}
