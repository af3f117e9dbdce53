#include "worker/internal/seccomp_filter.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <sched.h>
#include <unistd.h>

namespace magic::worker::internal {
namespace {

// Runs `probe` in a child with the filter loaded (unprivileged: the child
// sets no_new_privs first). Returns the child's exit code.
template <typename Probe>
int RunFiltered(const std::string& program, Probe probe) {
  const pid_t pid = fork();
  if (pid == 0) {
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(program.size() / sizeof(sock_filter));
    fprog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) _exit(101);
    _exit(probe());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// 0 if the call failed with `expected`, 1 if it succeeded, 2 on another errno.
int Expect(long result, int expected) {
  if (result >= 0) return 1;
  return errno == expected ? 0 : 2;
}

class SeccompFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> program = BuildSeccompProgram();
    ASSERT_TRUE(program.ok()) << program.status();
    program_ = *program;
  }
  std::string program_;
};

TEST_F(SeccompFilterTest, ProgramIsWholeBpfInstructions) {
  EXPECT_FALSE(program_.empty());
  EXPECT_EQ(program_.size() % sizeof(sock_filter), 0u);
}

TEST_F(SeccompFilterTest, DeniesInternetSockets) {
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(socket(AF_INET, SOCK_STREAM, 0), EPERM); }),
            0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(socket(AF_INET6, SOCK_DGRAM, 0), EPERM); }),
            0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(socket(AF_NETLINK, SOCK_RAW, 0), EPERM); }),
            0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(socket(AF_PACKET, SOCK_RAW, 0), EPERM); }), 0);
}

TEST_F(SeccompFilterTest, AllowsUnixSockets) {
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(socket(AF_UNIX, SOCK_STREAM, 0), 0); }), 1);
  EXPECT_EQ(RunFiltered(program_,
                        [] {
                          int sv[2];
                          return Expect(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
                        }),
            1);
}

TEST_F(SeccompFilterTest, DeniesEscapeHatches) {
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(unshare(CLONE_NEWUSER), EPERM); }), 0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(ptrace(PTRACE_TRACEME, 0, 0, 0), EPERM); }),
            0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(syscall(SYS_bpf, 0, 0, 0), EPERM); }), 0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(syscall(SYS_io_uring_setup, 1, 0), EPERM); }),
            0);
  EXPECT_EQ(RunFiltered(program_, [] { return Expect(syscall(SYS_clone3, 0, 0), ENOSYS); }), 0);
  EXPECT_EQ(
      RunFiltered(
          program_,
          [] { return Expect(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM); }),
      0);
}

TEST_F(SeccompFilterTest, ForkStillWorks) {
  EXPECT_EQ(RunFiltered(program_,
                        [] {
                          const pid_t child = fork();
                          if (child == 0) _exit(7);
                          int status = 0;
                          waitpid(child, &status, 0);
                          return WEXITSTATUS(status) == 7 ? 0 : 3;
                        }),
            0);
}

}  // namespace
}  // namespace magic::worker::internal
