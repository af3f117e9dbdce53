#include "worker/internal/seccomp_filter.h"

#include "worker/internal/errno_text.h"
#include "worker/internal/unique_fd.h"

#include <fmt/format.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <seccomp.h>
#include <unistd.h>

namespace magic::worker::internal {
namespace {

struct ContextDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using FilterContext = std::unique_ptr<void, ContextDeleter>;

absl::Status RuleError(std::string_view what, int rc) {
  return absl::InternalError(fmt::format("seccomp rule for {}: {}", what, ErrnoText(-rc)));
}

absl::Status DenyPlain(scmp_filter_ctx ctx) {
  for (std::string_view name : DeniedSyscalls()) {
    const int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a syscall on this architecture
    const int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc < 0) return RuleError(name, rc);
  }
  return absl::OkStatus();
}

absl::Status DenyWithArguments(scmp_filter_ctx ctx) {
  for (int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    const int rc =
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    if (rc < 0) return RuleError("socket", rc);
  }
  for (unsigned long request : {TIOCSTI, TIOCLINUX}) {
    const int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                                    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, request));
    if (rc < 0) return RuleError("ioctl", rc);
  }
  for (unsigned long flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS,
                             CLONE_NEWIPC, CLONE_NEWCGROUP}) {
    const int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                    SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc < 0) return RuleError("clone", rc);
  }
  const int nr = seccomp_syscall_resolve_name("clone3");
  if (nr != __NR_SCMP_ERROR) {
    const int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    if (rc < 0) return RuleError("clone3", rc);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Export(scmp_filter_ctx ctx) {
  UniqueFd fd(memfd_create("magic-seccomp-build", MFD_CLOEXEC));
  if (!fd.valid()) return absl::InternalError(fmt::format("memfd_create: {}", ErrnoText(errno)));
  const int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc < 0) return absl::InternalError(fmt::format("seccomp export: {}", ErrnoText(-rc)));
  std::string program;
  char buffer[4096];
  if (lseek(fd.get(), 0, SEEK_SET) != 0) return absl::InternalError("seccomp export: lseek");
  for (;;) {
    const ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(fmt::format("seccomp export: {}", ErrnoText(errno)));
    if (n == 0) break;
    program.append(buffer, static_cast<size_t>(n));
  }
  if (program.empty()) return absl::InternalError("seccomp export produced no program");
  return program;
}

}  // namespace

const std::vector<std::string_view>& DeniedSyscalls() {
  static const auto* kDenied = new std::vector<std::string_view>{
      // Looking into or controlling other processes.
      "ptrace", "process_vm_readv", "process_vm_writev",
      // Mounts and namespaces (bwrap has set them up already).
      "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
      "fspick", "mount_setattr", "unshare", "setns", "chroot",
      // The kernel itself.
      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
      "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
      "personality", "lookup_dcookie", "iopl", "ioperm",
      // Keys, host administration, clocks.
      "keyctl", "add_key", "request_key", "acct", "swapon", "swapoff", "reboot", "syslog",
      "quotactl", "quotactl_fd", "vhangup", "clock_settime", "clock_adjtime", "settimeofday",
      "adjtimex",
      // File handles bypass the mount namespace.
      "open_by_handle_at", "name_to_handle_at"};
  return *kDenied;
}

absl::StatusOr<std::string> BuildSeccompProgram() {
  FilterContext ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  if (const absl::Status s = DenyPlain(ctx.get()); !s.ok()) return s;
  if (const absl::Status s = DenyWithArguments(ctx.get()); !s.ok()) return s;
  return Export(ctx.get());
}

}  // namespace magic::worker::internal
