// SPDX-License-Identifier: GPL-2.0
/*
 * xenradclock_systime: Xen system time for user space, on stock Xen.
 *
 * /dev/xen/systime (mode 0444) returns struct xrst_sample: Xen system time
 * computed from the calling vCPU's pvclock record (vcpu_time_info), so it
 * does not depend on which clocksource the guest currently uses, and a
 * resume generation that changes before user space runs again after a
 * save/restore or a live migration.
 *
 * The kernel does not export its per-vCPU vcpu_info pointer (xen_vcpu), so
 * each vCPU registers a secondary time area of this module's own with
 * VCPUOP_register_vcpu_time_memory_area: Xen writes the same record there
 * as into vcpu_info.  Xen keeps one secondary area per vCPU and Linux uses
 * the one of vCPU 0 for its vDSO when the TSC is stable; this module then
 * reads Linux's area on vCPU 0 (pvclock_get_pvti_cpu0_va()) instead of
 * replacing it.  Registrations do not survive a restore or a migration, so
 * every vCPU registers lazily, on its first read after each resume.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/syscore_ops.h>
#include <linux/uaccess.h>

#include <asm/pvclock.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/hypervisor.h>
#include <xen/interface/vcpu.h>
#include <xen/interface/version.h>
#include <xen/xen.h>
#include <xen/xen-ops.h>

#include "xenradclock_abi.h"

static_assert(sizeof(struct xrst_sample) == 32);

/* One record per vCPU, on its own cache line so Xen's writes do not share. */
struct xrst_area {
	struct pvclock_vcpu_time_info pvti;
} __aligned(SMP_CACHE_BYTES);

static struct xrst_area __percpu *xrst_areas;

/* The resume generation each vCPU last registered its area in; 0: never. */
static DEFINE_PER_CPU(u64, xrst_registered_gen);

static atomic64_t xrst_resume_gen = ATOMIC64_INIT(1);

static int xrst_register_area(int cpu, struct pvclock_vcpu_time_info *pvti)
{
	struct vcpu_register_time_memory_area t = { .addr.v = pvti };

	return HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_time_memory_area,
				  xen_vcpu_nr(cpu), &t);
}

/*
 * Returns this vCPU's pvclock record, registering it first when needed.
 * Called with preemption disabled, so that the record, the TSC read and the
 * registration all belong to one vCPU.
 */
static struct pvclock_vcpu_time_info *xrst_this_pvti(u64 gen)
{
	int cpu = smp_processor_id();
	struct pvclock_vsyscall_time_info *linux_pvti;
	struct pvclock_vcpu_time_info *pvti;
	int rc;

	if (xen_vcpu_nr(cpu) == 0) {
		linux_pvti = pvclock_get_pvti_cpu0_va();
		if (linux_pvti)
			return &linux_pvti->pvti;
	}

	pvti = &per_cpu_ptr(xrst_areas, cpu)->pvti;
	if (__this_cpu_read(xrst_registered_gen) == gen)
		return pvti;

	/* Xen fills the area before the hypercall returns. */
	rc = xrst_register_area(cpu, pvti);
	if (rc) {
		pr_warn_ratelimited("cpu %d: cannot register time area: %d\n",
				    cpu, rc);
		return NULL;
	}
	__this_cpu_write(xrst_registered_gen, gen);
	return pvti;
}

static int xrst_sample(struct xrst_sample *s)
{
	struct pvclock_vcpu_time_info *pvti;
	unsigned int version;
	u64 ns, gen;
	u8 flags;

	memset(s, 0, sizeof(*s));

	preempt_disable();
	gen = atomic64_read(&xrst_resume_gen);
	pvti = xrst_this_pvti(gen);
	if (!pvti) {
		preempt_enable();
		return -EIO;
	}
	do {
		version = pvclock_read_begin(pvti);
		ns = __pvclock_read_cycles(pvti, rdtsc_ordered());
		flags = pvti->flags;
	} while (pvclock_read_retry(pvti, version));
	preempt_enable();

	s->magic = XRST_MAGIC;
	s->version = XRST_VERSION;
	s->system_time_ns = ns;
	s->resume_gen = gen;
	if (flags & PVCLOCK_TSC_STABLE_BIT)
		s->flags |= XRST_FLAG_TSC_STABLE;
	return 0;
}

/* Every read returns one fresh sample, whatever the file offset. */
static ssize_t xrst_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	struct xrst_sample s;
	int rc;

	if (count < sizeof(s))
		return -EINVAL;
	rc = xrst_sample(&s);
	if (rc)
		return rc;
	if (copy_to_user(buf, &s, sizeof(s)))
		return -EFAULT;
	return sizeof(s);
}

static ssize_t xrst_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	return -EPERM;
}

/*
 * XRST_IOC_PLATFORM: XENVER_platform_time made by the kernel, for guest
 * processes that cannot use /dev/xen/privcmd (Linux restricts it in an
 * unprivileged DomU).  Xen's error is returned as is: -ENOSYS from an
 * unpatched hypervisor, -EPERM from a domain denied the sub-op.
 */
static long xrst_platform(void __user *arg)
{
	struct xenver_platform_time pt = { .version = XENVER_PT_ABI_VERSION };
	struct xrst_platform out;
	int rc;

	rc = HYPERVISOR_xen_version(XENVER_platform_time, &pt);
	if (rc)
		return rc;
	memset(&out, 0, sizeof(out));
	out.version = pt.version;
	out.kind = pt.kind;
	out.platform_count = pt.platform_count;
	out.platform_hz = pt.platform_hz;
	out.system_time_ns = pt.system_time_ns;
	out.guest_tsc = pt.guest_tsc;
	out.incarnation = pt.incarnation;
	out.flags = pt.flags;
	BUILD_BUG_ON(sizeof(out.host_id) != sizeof(pt.host_id));
	memcpy(out.host_id, pt.host_id, sizeof(out.host_id));
	if (copy_to_user(arg, &out, sizeof(out)))
		return -EFAULT;
	return 0;
}

static long xrst_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct xrst_sample s;
	int rc;

	if (cmd == XRST_IOC_PLATFORM)
		return xrst_platform((void __user *)arg);
	if (cmd != XRST_IOC_READ)
		return -ENOTTY;
	rc = xrst_sample(&s);
	if (rc)
		return rc;
	if (copy_to_user((void __user *)arg, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

static const struct file_operations xrst_fops = {
	.owner = THIS_MODULE,
	.read = xrst_read,
	.write = xrst_write,
	.unlocked_ioctl = xrst_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice xrst_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = XRST_MISC_NAME,
	.fops = &xrst_fops,
	.mode = 0444,
};

/*
 * syscore resume runs on one CPU with interrupts off, inside the Xen
 * suspend path's stop_machine(), before tasks are thawed: no reader can be
 * between its generation read and its pvclock read, and no user space runs
 * before the new generation is visible.  A cancelled suspend (the domain
 * resumed where it was) also bumps it; readers only lose a cached value.
 */
static void xrst_resume_bump(void)
{
	atomic64_inc(&xrst_resume_gen);
}

/*
 * Kernels with struct syscore (Debian 13's 6.12 among them, where the
 * rework was backported) register a struct syscore whose ops take a data
 * pointer; older ones register the ops themselves.  Kbuild tells which.
 */
#ifdef XRST_HAVE_STRUCT_SYSCORE
static void xrst_resume(void *data)
{
	xrst_resume_bump();
}

static const struct syscore_ops xrst_syscore_ops = {
	.resume = xrst_resume,
};

static struct syscore xrst_syscore = {
	.ops = &xrst_syscore_ops,
};

static void xrst_register_syscore(void)
{
	register_syscore(&xrst_syscore);
}

static void xrst_unregister_syscore(void)
{
	unregister_syscore(&xrst_syscore);
}
#else
static void xrst_resume(void)
{
	xrst_resume_bump();
}

static struct syscore_ops xrst_syscore_ops = {
	.resume = xrst_resume,
};

static void xrst_register_syscore(void)
{
	register_syscore_ops(&xrst_syscore_ops);
}

static void xrst_unregister_syscore(void)
{
	unregister_syscore_ops(&xrst_syscore_ops);
}
#endif

static void xrst_unregister_all(void)
{
	int cpu;

	/*
	 * Clear every vCPU's registration, online or not: Xen would otherwise
	 * keep writing into the freed areas.  A NULL area is valid for any
	 * vCPU of the caller's domain.
	 */
	for_each_possible_cpu(cpu) {
		if (!per_cpu(xrst_registered_gen, cpu))
			continue;
		if (xrst_register_area(cpu, NULL))
			pr_err("cpu %d: cannot unregister time area\n", cpu);
		per_cpu(xrst_registered_gen, cpu) = 0;
	}
}

static int __init xrst_init(void)
{
	int rc;

	if (!xen_domain())
		return -ENODEV;

	xrst_areas = alloc_percpu(struct xrst_area);
	if (!xrst_areas)
		return -ENOMEM;

	xrst_register_syscore();
	rc = misc_register(&xrst_dev);
	if (rc) {
		xrst_unregister_syscore();
		free_percpu(xrst_areas);
		return rc;
	}
	return 0;
}

static void __exit xrst_exit(void)
{
	misc_deregister(&xrst_dev);
	xrst_unregister_syscore();
	xrst_unregister_all();
	free_percpu(xrst_areas);
}

module_init(xrst_init);
module_exit(xrst_exit);

MODULE_DESCRIPTION("Xen system time and resume generation for user space");
MODULE_AUTHOR("xenradclock developers");
MODULE_LICENSE("GPL");
