// SPDX-License-Identifier: GPL-2.0
/*
 * xrc_calibmon: a test-only Dom0 module for the boot check's calibration
 * gate.  /dev/xrc_calibmon (root only) returns, per read(), the calling
 * vCPU's pvclock record as Xen last wrote it, plus the time of the read.
 *
 * Xen rewrites a vCPU's record (system_time = the per-CPU calibration stamp,
 * tsc_timestamp, tsc_to_system_mul) when that physical CPU recalibrates,
 * once every EPOCH (1 s), and re-arms the calibration timer only after the
 * rendezvous has run.  The distinct system_time values a reader sees are
 * therefore the instants at which Xen calibrated, in Xen's own time: gaps
 * of 2 s are skipped calibrations, longer gaps delayed ones, extra values
 * in between are stamps rewritten outside calibration.
 *
 * Like xenradclock_systime it registers a secondary time area per vCPU
 * (VCPUOP_register_vcpu_time_memory_area) on the first read; Xen keeps one
 * such area per vCPU, so unload xenradclock_systime first.  Not shipped:
 * its record layout is private to tools/xenradclock-pt.c (calibwatch).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/uaccess.h>

#include <asm/pvclock.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/hypervisor.h>
#include <xen/interface/vcpu.h>
#include <xen/xen.h>
#include <xen/xen-ops.h>

/* What a read returns; mirrored in tools/xenradclock-pt.c. */
struct xrc_calibmon_rec {
	u64 system_time;	/* the record's calibration stamp, ns */
	u64 tsc_timestamp;
	u64 now_ns;		/* Xen system time at this read */
	u32 version;
	u32 tsc_to_system_mul;
	u32 cpu;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
};

struct calibmon_area {
	struct pvclock_vcpu_time_info pvti;
} __aligned(SMP_CACHE_BYTES);

static struct calibmon_area __percpu *areas;
static DEFINE_PER_CPU(bool, registered);

static int register_area(int cpu, struct pvclock_vcpu_time_info *pvti)
{
	struct vcpu_register_time_memory_area t = { .addr.v = pvti };

	return HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_time_memory_area,
				  xen_vcpu_nr(cpu), &t);
}

static ssize_t calibmon_read(struct file *file, char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct xrc_calibmon_rec r = {};
	struct pvclock_vcpu_time_info *pvti;
	unsigned int version;
	int cpu, rc;

	if (count < sizeof(r))
		return -EINVAL;
	preempt_disable();
	cpu = smp_processor_id();
	pvti = &per_cpu_ptr(areas, cpu)->pvti;
	if (!__this_cpu_read(registered)) {
		rc = register_area(cpu, pvti);
		if (rc) {
			preempt_enable();
			pr_warn_ratelimited("cpu %d: cannot register: %d\n",
					    cpu, rc);
			return -EIO;
		}
		__this_cpu_write(registered, true);
	}
	do {
		version = pvclock_read_begin(pvti);
		r.system_time = pvti->system_time;
		r.tsc_timestamp = pvti->tsc_timestamp;
		r.tsc_to_system_mul = pvti->tsc_to_system_mul;
		r.tsc_shift = pvti->tsc_shift;
		r.flags = pvti->flags;
		r.now_ns = __pvclock_read_cycles(pvti, rdtsc_ordered());
	} while (pvclock_read_retry(pvti, version));
	preempt_enable();
	r.version = version;
	r.cpu = cpu;
	if (copy_to_user(buf, &r, sizeof(r)))
		return -EFAULT;
	return sizeof(r);
}

static const struct file_operations calibmon_fops = {
	.owner = THIS_MODULE,
	.read = calibmon_read,
	.llseek = noop_llseek,
};

static struct miscdevice calibmon_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "xrc_calibmon",
	.fops = &calibmon_fops,
	.mode = 0400,
};

static int __init calibmon_init(void)
{
	int rc;

	if (!xen_domain())
		return -ENODEV;
	areas = alloc_percpu(struct calibmon_area);
	if (!areas)
		return -ENOMEM;
	rc = misc_register(&calibmon_dev);
	if (rc)
		free_percpu(areas);
	return rc;
}

static void __exit calibmon_exit(void)
{
	int cpu;

	misc_deregister(&calibmon_dev);
	for_each_possible_cpu(cpu) {
		if (!per_cpu(registered, cpu))
			continue;
		if (register_area(cpu, NULL))
			pr_err("cpu %d: cannot unregister time area\n", cpu);
	}
	free_percpu(areas);
}

module_init(calibmon_init);
module_exit(calibmon_exit);

MODULE_DESCRIPTION("Test only: Xen's per-vCPU calibration stamps for user space");
MODULE_LICENSE("GPL");
