// cbcheck: reads a ClockBound shared memory segment through ClockBound's own
// client library and prints what an unmodified ClockBound client sees, for
// the Go tests of guestclock/clockbound.
//
// Usage: cbcheck SEGMENT_PATH VMCLOCK_PATH
// Output (one line on stdout, exit 0):
//   earliest_ns=<i64> latest_ns=<i64> status=<Unknown|Synchronized|FreeRunning|Disrupted>
// On a client error: "error kind=<kind> detail=<text>" on stdout, exit 3.
use clock_bound_client::{ClockBoundClient, ClockStatus};
use std::process::exit;

fn ns(ts: &nix::sys::time::TimeSpec) -> i128 {
    ts.tv_sec() as i128 * 1_000_000_000 + ts.tv_nsec() as i128
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: cbcheck SEGMENT_PATH VMCLOCK_PATH");
        exit(2);
    }
    let mut client = match ClockBoundClient::new_with_paths(&args[1], &args[2]) {
        Ok(c) => c,
        Err(e) => {
            println!("error kind={:?} detail={}", e.kind, e.detail);
            exit(3);
        }
    };
    match client.now() {
        Ok(r) => {
            let status = match r.clock_status {
                ClockStatus::Unknown => "Unknown",
                ClockStatus::Synchronized => "Synchronized",
                ClockStatus::FreeRunning => "FreeRunning",
                ClockStatus::Disrupted => "Disrupted",
            };
            println!(
                "earliest_ns={} latest_ns={} status={}",
                ns(&r.earliest),
                ns(&r.latest),
                status
            );
        }
        Err(e) => {
            println!("error kind={:?} detail={}", e.kind, e.detail);
            exit(3);
        }
    }
}
