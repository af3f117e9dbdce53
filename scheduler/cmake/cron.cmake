# Cron expressions for the scheduler's durable timers (scheduler/cron.h).
# Included from scheduler/CMakeLists.txt, so file names are relative to scheduler/.
magic_cc_library(NAME scheduler_cron HDRS cron.h SRCS cron.cc DEPS magic::common)

magic_cc_test(NAME scheduler_cron_test SRCS cron_test.cc DEPS magic::scheduler_cron)
