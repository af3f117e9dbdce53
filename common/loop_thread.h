// A thread that runs one step of a loop again and again until stopped, and
// can be woken from its sleep between steps at once by Stop(). For the
// scheduler's services (timers, triggers) and anything shaped like them.
//
//   LoopThread loop;
//   loop.Start([this] { return Step(); });  // Step() returns how long to sleep
//   ...
//   loop.Stop();                             // wakes it, joins
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace magic {

class LoopThread {
 public:
  using Step = std::function<std::chrono::milliseconds()>;

  LoopThread() = default;
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  ~LoopThread() { Stop(); }

  // Starts the thread (no-op when running): step(), then sleep for what it
  // returned (0: run the next step at once), until Stop().
  void Start(Step step) {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this, step = std::move(step)] {
      while (true) {
        const std::chrono::milliseconds pause = step();
        std::unique_lock<std::mutex> sleeping(mu_);
        if (wake_.wait_for(sleeping, pause, [this] { return stop_; })) return;
      }
    });
  }

  // Wakes the thread and joins it once its current step is done. Idempotent.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace magic
