// The sandbox's seccomp filter, built with libseccomp and handed to bwrap
// (`--seccomp FD`) as a compiled BPF program.
//
// Default allow; the syscalls below fail with EPERM:
//   socket()/socketpair() for every family but AF_UNIX (asyncio needs a
//   socketpair), ptrace, process_vm_readv/writev, mount, umount2, pivot_root,
//   move_mount, open_tree, fsopen/fsconfig/fsmount/fspick, kexec_*,
//   init/finit/delete_module, bpf, perf_event_open, keyctl, add_key,
//   request_key, userfaultfd, unshare, setns, personality, acct,
//   swapon/swapoff, reboot, syslog, open_by_handle_at, name_to_handle_at,
//   io_uring_*, quotactl, lookup_dcookie, clock_settime/settimeofday/adjtimex,
//   chroot, ioctl(TIOCSTI/TIOCLINUX), and clone() with any CLONE_NEW* flag.
// clone3 fails with ENOSYS (its flags live in memory a filter cannot read;
// glibc then falls back to clone). Syscalls of other ABIs (i386, x32) kill
// the process: libseccomp's default bad-arch action.
#pragma once

#include <absl/status/statusor.h>

#include <string>
#include <string_view>
#include <vector>

namespace magic::worker::internal {

// Names of the syscalls denied outright (no argument filter).
const std::vector<std::string_view>& DeniedSyscalls();

// The BPF program, in the form bwrap --seccomp reads. Internal error if
// libseccomp refuses a rule. Build it once and reuse it.
absl::StatusOr<std::string> BuildSeccompProgram();

}  // namespace magic::worker::internal
