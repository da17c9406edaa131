//! The userspace netem of tests/support/netns.rs, for kernels without the netem qdisc: a tun
//! device this process holds, to which scripts/netns.sh redirects (`tc ... mirred`) every IPv4
//! packet arriving from a region's namespace; each packet read from it is written back to it,
//! and so delivered to the root namespace, `delay` later, in order. The device exists only while
//! its file descriptor is open: it disappears when the line is dropped or the process dies.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const TUNSETIFF: u64 = 0x4004_54ca;
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;
const POLLIN: i16 = 0x001;

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: i16,
    _pad: [u8; 22],
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

extern "C" {
    fn ioctl(fd: i32, request: u64, ...) -> i32;
    fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
}

/// A userspace netem: packets read from a tun device are written back to it `delay` later,
/// in order. scripts/netns.sh redirects the namespace's incoming packets to the device.
pub struct DelayLine {
    tun: File,
    delay: Duration,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DelayLine {
    pub(super) fn open(name: &str, delay_ms: u32) -> DelayLine {
        let tun = File::options()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .expect("open /dev/net/tun (the delay line needs the tun driver)");
        let mut req = IfReq {
            name: [0; 16],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF with a properly sized, initialised ifreq.
        let rc = unsafe { ioctl(tun.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
        assert_eq!(
            rc,
            0,
            "TUNSETIFF {name}: {}",
            std::io::Error::last_os_error()
        );
        DelayLine {
            tun,
            delay: Duration::from_millis(delay_ms.into()),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        }
    }

    pub(super) fn start(&mut self) {
        let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
        let (mut reader, mut writer) = (
            self.tun.try_clone().expect("dup tun"),
            self.tun.try_clone().expect("dup tun"),
        );
        let (stop_r, stop_w, delay) = (self.stop.clone(), self.stop.clone(), self.delay);
        self.threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop_r.load(Ordering::Relaxed) {
                let mut pfd = PollFd {
                    fd: reader.as_raw_fd(),
                    events: POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { poll(&mut pfd, 1, 100) } <= 0 {
                    continue;
                }
                match reader.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        if tx
                            .send((Instant::now() + delay, buf[..n].to_vec()))
                            .is_err()
                        {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        }));
        self.threads.push(std::thread::spawn(move || {
            while !stop_w.load(Ordering::Relaxed) {
                let Ok((due, pkt)) = rx.recv_timeout(Duration::from_millis(100)) else {
                    continue;
                };
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let _ = writer.write(&pkt);
            }
        }));
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
