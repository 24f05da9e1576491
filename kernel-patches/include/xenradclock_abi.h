/* SPDX-License-Identifier: MIT */
/*
 * xenradclock kernel ABI: the platform-timer hypercall sub-op added to Xen
 * and the character device of the xenradclock_systime Linux module.
 *
 * This header is the one C source of the ABI. The Xen patch copies the
 * hypercall part into xen/include/public/version.h, the Linux module includes
 * it, and hypercall/abi.go mirrors it for Go; a Go test compiles this file and
 * compares every offset, size and constant with the Go mirror.
 * docs/kernel-abi.md documents it byte for byte.
 *
 * MIT-licensed, like the rest of Xen's xen/include/public, so that it may be
 * included by code under any licence.
 */
#ifndef XENRADCLOCK_ABI_H
#define XENRADCLOCK_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/ioctl.h>
#else
#include <stdint.h>
#include <sys/ioctl.h>
#endif

/* ---- (1) The platform-timer hypercall ------------------------------------ */

/* Sub-op of __HYPERVISOR_xen_version (17), callable by every domain type. */
#define XENVER_platform_time 0x7872

#define XENVER_PT_ABI_VERSION 1

/* kind */
#define XENVER_PT_KIND_UNKNOWN 0
#define XENVER_PT_KIND_HPET    1
#define XENVER_PT_KIND_ACPI_PM 2
#define XENVER_PT_KIND_PIT     3
#define XENVER_PT_KIND_TSC     4
#define XENVER_PT_KIND_OTHER   5

/* flags */
#define XENVER_PT_PLATFORM_VALID  (1u << 0) /* platform_count, platform_hz */
#define XENVER_PT_GUEST_TSC_VALID (1u << 1) /* guest_tsc */

/* All fields sampled at one instant. 64 bytes, little-endian, no padding. */
struct xenver_platform_time {
    uint32_t version;        /* IN: 1; OUT: version written */
    uint32_t kind;           /* OUT: XENVER_PT_KIND_* */
    uint64_t platform_count; /* OUT: 64-bit cumulative platform timer count */
    uint64_t platform_hz;    /* OUT: platform timer frequency, Hz */
    uint64_t system_time_ns; /* OUT: Xen system time, ns since host boot */
    uint64_t guest_tsc;      /* OUT: the caller's TSC (offset, scaling applied) */
    uint32_t incarnation;    /* OUT: the calling domain's incarnation */
    uint32_t flags;          /* OUT: XENVER_PT_* */
    uint8_t  host_id[16];    /* OUT: per-boot random host identity */
};

/* ---- (2) The xenradclock_systime character device ------------------------ */

#define XRST_DEVICE_PATH "/dev/xen/systime"
#define XRST_MISC_NAME   "xen/systime"
#define XRST_MAGIC       0x54535258u /* "XRST" in memory order on little-endian */
#define XRST_VERSION     1

#define XRST_FLAG_TSC_STABLE (1u << 0)

/* read() of at least 32 bytes at any offset returns exactly this. */
struct xrst_sample {
    uint32_t magic;          /* XRST_MAGIC */
    uint32_t version;        /* XRST_VERSION */
    uint64_t system_time_ns; /* Xen system time from this vCPU's vcpu_time_info */
    uint64_t resume_gen;     /* 1 at load; bumped before user space resumes */
    uint32_t flags;          /* XRST_FLAG_* */
    uint32_t reserved;       /* 0 */
};

#define XRST_IOC_READ _IOR('X', 0x01, struct xrst_sample)

/*
 * XRST_IOC_PLATFORM: the kernel makes XENVER_platform_time (version 1) and
 * returns its sample field for field (same layout as xenver_platform_time).
 * The ioctl fails with Xen's error: -ENOSYS (unpatched), -EPERM (denied).
 */
struct xrst_platform {
    uint32_t version;        /* XENVER_PT_ABI_VERSION */
    uint32_t kind;           /* XENVER_PT_KIND_* */
    uint64_t platform_count; /* 64-bit cumulative platform timer count */
    uint64_t platform_hz;    /* platform timer frequency, Hz */
    uint64_t system_time_ns; /* Xen system time (NOW()), ns */
    uint64_t guest_tsc;      /* the calling vCPU's TSC */
    uint32_t incarnation;    /* the calling domain's incarnation */
    uint32_t flags;          /* XENVER_PT_* */
    uint8_t  host_id[16];    /* per-boot random host identity */
};

#define XRST_IOC_PLATFORM _IOR('X', 0x02, struct xrst_platform)

/* The layout is ABI: make a change to it fail every C11 build at once. */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__cplusplus)
_Static_assert(sizeof(struct xenver_platform_time) == 64, "xenver_platform_time is 64 bytes");
_Static_assert(sizeof(struct xrst_sample) == 32, "xrst_sample is 32 bytes");
_Static_assert(sizeof(struct xrst_platform) == 64, "xrst_platform is 64 bytes");
#endif

#endif /* XENRADCLOCK_ABI_H */
