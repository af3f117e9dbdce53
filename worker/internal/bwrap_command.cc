#include "worker/internal/bwrap_command.h"

#include <initializer_list>

namespace magic::worker::internal {
namespace {

void Add(std::vector<std::string>& argv, std::initializer_list<std::string> args) {
  argv.insert(argv.end(), args);
}

}  // namespace

std::vector<std::string> BuildBwrapArgv(const BwrapSpec& spec) {
  std::vector<std::string> argv = {spec.bwrap_path};
  Add(argv, {"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL"});
  Add(argv, {"--clearenv", "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE",
             "1", "--setenv", "PYTHONPATH", kSandboxSdkDir});
  Add(argv, {"--uid", std::to_string(spec.uid), "--gid", std::to_string(spec.gid), "--hostname",
             "sandbox"});
  Add(argv, {"--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin",
             "/sbin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"});
  Add(argv, {"--proc", "/proc", "--dev", "/dev", "--ro-bind", spec.sdk_dir, kSandboxSdkDir});
  if (spec.controller_dir.empty()) {
    Add(argv, {"--dir", kSandboxControllerDir});
  } else {
    Add(argv, {"--ro-bind", spec.controller_dir, kSandboxControllerDir});
  }
  if (spec.tmp_size_bytes) {
    Add(argv, {"--size", std::to_string(*spec.tmp_size_bytes), "--tmpfs", "/tmp"});
  }
  Add(argv, {"--remount-ro", "/dev", "--remount-ro", "/", "--chdir", kSandboxControllerDir});
  if (spec.seccomp_fd >= 0) Add(argv, {"--seccomp", std::to_string(spec.seccomp_fd)});
  Add(argv, {"--", spec.python_path, "-I", "-S", "-B", kSandboxRunner});
  return argv;
}

}  // namespace magic::worker::internal
