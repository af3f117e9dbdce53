// TimerService: magic.timers (once, cron, retry), the retry decision of
// the result recorder, the watchdog and dead letters. See timers.h.
#include "scheduler/timers.h"

#include "common/absl_compat.h"
#include "common/errors.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "proto/wire_errors.h"
#include "scheduler/cron.h"
#include "scheduler/internal/pg_result_store.h"
#include "scheduler/job_maker.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

namespace magic::scheduler {
namespace {

using magic::v1::InvocationJob;
using magic::v1::InvocationResult;
using magic::v1::Schedule;

constexpr int64_t kMigrationLock = 0x6d61676963'0013;

constexpr std::string_view kMigration = R"sql(
CREATE TABLE IF NOT EXISTS magic.timers (
  timer_id        text PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('once', 'cron', 'retry')),
  controller      text NOT NULL,
  input_json      json,
  cron            text,
  run_at          timestamptz NOT NULL,
  request_id      text,              -- once: its run's id; retry: the run to repeat
  attempt         integer NOT NULL DEFAULT 1,
  timeout_ms      integer NOT NULL DEFAULT 0,
  max_attempts    integer NOT NULL DEFAULT 3,
  created_at      timestamptz NOT NULL DEFAULT now(),
  fired           integer NOT NULL DEFAULT 0,
  last_request_id text
);
CREATE INDEX IF NOT EXISTS timers_run_at_idx ON magic.timers (run_at);
CREATE INDEX IF NOT EXISTS timers_request_idx ON magic.timers (request_id)
  WHERE request_id IS NOT NULL;
)sql";

constexpr std::string_view kScheduleColumns = R"sql(
timer_id, controller, COALESCE(input_json::text, ''), COALESCE(cron, ''),
(extract(epoch FROM run_at) * 1000)::bigint, COALESCE(request_id, ''), timeout_ms, max_attempts,
(extract(epoch FROM created_at) * 1000)::bigint, fired, COALESCE(last_request_id, '')
)sql";

Schedule ScheduleFromRow(const pqxx::row& row) {
  Schedule s;
  s.set_schedule_id(row[0].as<std::string>());
  s.set_controller(row[1].as<std::string>());
  s.set_input_json(row[2].as<std::string>());
  s.set_cron(row[3].as<std::string>());
  s.set_next_run_unix_ms(row[4].as<int64_t>());
  s.set_request_id(row[5].as<std::string>());
  s.set_timeout_ms(row[6].as<uint32_t>());
  s.set_max_attempts(row[7].as<uint32_t>());
  s.set_created_unix_ms(row[8].as<int64_t>());
  s.set_fired(row[9].as<uint32_t>());
  s.set_last_request_id(row[10].as<std::string>());
  return s;
}

std::string StatusJson(const absl::Status& status, std::string_view request_id) {
  Error e = ErrorFromStatus(status);
  e.request_id = std::string(request_id);
  return internal::ErrorToJson(ToWireError(e));
}

magic::v1::Error WireError(const absl::Status& status, std::string_view request_id) {
  Error e = ErrorFromStatus(status);
  e.request_id = std::string(request_id);
  return ToWireError(e);
}

// run_json (internal::RunJson) back into the parts MakeJob needs.
struct StoredRun {
  int64_t timeout_ms = 0;
  int64_t ttl_ms = 0;
  std::string source;
  magic::v1::RetryPolicy retry;
};

StoredRun ParseRun(const std::string& text) {
  StoredRun run;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return run;
  run.timeout_ms = j.value("timeout_ms", int64_t{0});
  run.ttl_ms = j.value("ttl_ms", int64_t{0});
  run.source = j.value("source", "");
  if (j.contains("retry") && j["retry"].is_object()) {
    const nlohmann::json& r = j["retry"];
    run.retry.set_max_attempts(std::min<uint32_t>(r.value("max_attempts", 1u), kMaxAttemptsLimit));
    run.retry.set_on_timeout(r.value("on_timeout", false));
    run.retry.set_on_error(r.value("on_error", false));
  }
  return run;
}

// Runs nobody waits for: their final failures always become dead letters.
bool Unattended(std::string_view source) { return source == "timer" || source == "trigger"; }

// Marks a run FAILED (creating its row when there is none) inside `tx`.
void WriteFailed(pqxx::work& tx, const std::string& request_id, const std::string& controller,
                 const std::string& input_json, const std::string& error_json, int64_t attempts) {
  tx.exec_params(R"sql(
INSERT INTO magic.invocations AS i
  (request_id, controller, state, input_json, error_json, attempts, finished_at)
VALUES ($1, $2, 'FAILED', NULLIF($3, '')::json, $4::json, $5, now())
ON CONFLICT (request_id) DO UPDATE SET
  state = 'FAILED', error_json = EXCLUDED.error_json, finished_at = now(), lease_until = NULL,
  attempts = GREATEST(i.attempts, EXCLUDED.attempts)
WHERE i.state IN ('QUEUED', 'RUNNING')
)sql",
                 request_id, controller, input_json, error_json, attempts);
}

// Schedules attempt `attempt` of `request_id` at `run_at` inside `tx`.
void WriteRetry(pqxx::work& tx, const std::string& request_id, const std::string& controller,
                uint32_t attempt, absl::Time run_at, const std::string& error_json) {
  tx.exec_params(R"sql(
UPDATE magic.invocations SET state = 'QUEUED', lease_until = NULL, error_json = $2::json,
  attempts = GREATEST(attempts, $3 - 1)
WHERE request_id = $1 AND state IN ('QUEUED', 'RUNNING')
)sql",
                 request_id, error_json, static_cast<int>(attempt));
  tx.exec_params(R"sql(
INSERT INTO magic.timers (timer_id, kind, controller, run_at, request_id, attempt)
VALUES ($1, 'retry', $2, to_timestamp($3::bigint / 1000.0), $4, $5)
ON CONFLICT (timer_id) DO NOTHING
)sql",
                 fmt::format("retry-{}-{}", request_id, attempt), controller,
                 absl::ToUnixMillis(run_at), request_id, static_cast<int>(attempt));
}

}  // namespace

std::string DeadLetterJson(const DeadLetter& letter) {
  nlohmann::json input = nullptr;
  if (!letter.input_json.empty()) {
    input = nlohmann::json::parse(letter.input_json, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded()) input = letter.input_json;
  }
  return nlohmann::json{
      {"request_id", letter.request_id},
      {"controller", letter.controller},
      {"version", letter.version},
      {"source", letter.source},
      {"attempts", letter.attempts},
      {"reason", nlohmann::json::parse(internal::ErrorToJson(letter.reason), nullptr, false)},
      {"input", input},
      {"origin", letter.origin},
      {"failed_at_unix_ms", letter.failed_unix_ms}}
      .dump();
}

// One due timer as claimed by FirePass.
struct TimerService::Due {
  std::string timer_id, kind, controller, input_json, cron, request_id;
  int64_t run_at_ms = 0;
  uint32_t attempt = 1, timeout_ms = 0, max_attempts = 1;
};

TimerService::TimerService(pg::PgPool& pool, const contracts::Registry& registry,
                           const broker::GrantSigner* signer, kafka::KafkaProducer& producer,
                           Clock& clock, TimerOptions options)
    : pool_(pool),
      registry_(registry),
      signer_(signer),
      producer_(producer),
      clock_(clock),
      options_(std::move(options)),
      random_(std::random_device{}()) {}

absl::StatusOr<std::unique_ptr<TimerService>> TimerService::Open(
    pg::PgPool& pool, const contracts::Registry& registry, const broker::GrantSigner* signer,
    kafka::KafkaProducer& producer, Clock& clock, TimerOptions options) {
  MAGIC_RETURN_IF_ERROR(pool.WithTransaction([](pqxx::work& tx) -> absl::Status {
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    tx.exec(std::string(kMigration));
    return absl::OkStatus();
  }));
  return std::unique_ptr<TimerService>(
      new TimerService(pool, registry, signer, producer, clock, std::move(options)));
}

TimerService::~TimerService() { Stop(); }

double TimerService::UnitRandom() {
  std::lock_guard<std::mutex> lock(random_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

// ---------------------------------------------------------------------------
// Schedules

absl::StatusOr<Schedule> TimerService::Create(const magic::v1::CreateScheduleRequest& request) {
  const bool has_cron = !request.cron().empty();
  const bool has_time = request.run_at_unix_ms() != 0;
  if (has_cron == has_time) {
    return MakeError(ErrorCode::kE1005, "a schedule needs either a cron expression or run_at");
  }
  if (request.run_at_unix_ms() < 0) return MakeError(ErrorCode::kE1005, "run_at is negative");
  MAGIC_ASSIGN_OR_RETURN(const magic::v1::RetryPolicy retry,
                         MakeRetryPolicy(request.max_attempts(), false, false));
  MAGIC_ASSIGN_OR_RETURN(auto version, registry_.Active(request.controller()));
  const std::string input = request.input_json().empty() ? "{}" : request.input_json();
  if (static_cast<int64_t>(input.size()) > options_.max_input_bytes) {
    return MakeError(
        ErrorCode::kE1005,
        fmt::format("input is {} bytes; the limit is {}", input.size(), options_.max_input_bytes),
        {{"limit_bytes", options_.max_input_bytes}});
  }
  const absl::Time now = clock_.Now();
  // The input and timeout are checked now, so a mistake shows at once.
  MAGIC_RETURN_IF_ERROR(
      MakeJob(*version,
              {.request_id = "check", .input_json = input, .timeout_ms = request.timeout_ms()}, now,
              nullptr)
          .status());
  absl::Time next = absl::FromUnixMillis(request.run_at_unix_ms());
  if (has_cron) {
    MAGIC_ASSIGN_OR_RETURN(const CronSchedule cron, CronSchedule::Parse(request.cron()));
    next = cron.Next(now);
  }
  const std::string id = NewId("sch_");
  const std::string run_id = has_cron ? "" : NewRequestId();
  return pool_.WithTransaction([&](pqxx::work& tx) -> absl::StatusOr<Schedule> {
    const pqxx::result rows =
        tx.exec_params(fmt::format(R"sql(
INSERT INTO magic.timers (timer_id, kind, controller, input_json, cron, run_at, request_id,
                          timeout_ms, max_attempts)
VALUES ($1, $2, $3, $4::json, NULLIF($5, ''), to_timestamp($6::bigint / 1000.0), NULLIF($7, ''),
        $8, $9)
RETURNING {})sql",
                                   kScheduleColumns),
                       id, has_cron ? "cron" : "once", version->name(), input, request.cron(),
                       absl::ToUnixMillis(next), run_id, static_cast<int64_t>(request.timeout_ms()),
                       static_cast<int>(retry.max_attempts()));
    // A one-off run exists from now on: `magic status` shows it QUEUED.
    if (!run_id.empty()) {
      tx.exec_params(R"sql(
INSERT INTO magic.invocations (request_id, controller, version, state, input_json)
VALUES ($1, $2, $3, 'QUEUED', $4::json)
)sql",
                     run_id, version->name(), version->version(), input);
    }
    return ScheduleFromRow(rows[0]);
  });
}

absl::StatusOr<std::vector<Schedule>> TimerService::List(const std::string& controller) {
  using Result = absl::StatusOr<std::vector<Schedule>>;
  return pool_.WithConnection([&](pqxx::connection& conn) -> Result {
    pqxx::nontransaction tx(conn);
    std::vector<Schedule> out;
    for (const pqxx::row& row : tx.exec_params(fmt::format(R"sql(
SELECT {} FROM magic.timers
WHERE kind IN ('once', 'cron') AND ($1 = '' OR controller = $1)
ORDER BY run_at, timer_id)sql",
                                                           kScheduleColumns),
                                               controller)) {
      out.push_back(ScheduleFromRow(row));
    }
    return out;
  });
}

absl::StatusOr<Schedule> TimerService::Delete(const std::string& schedule_id) {
  return pool_.WithTransaction([&](pqxx::work& tx) -> absl::StatusOr<Schedule> {
    const pqxx::result rows = tx.exec_params(fmt::format(R"sql(
DELETE FROM magic.timers WHERE timer_id = $1 AND kind IN ('once', 'cron') RETURNING {})sql",
                                                         kScheduleColumns),
                                             schedule_id);
    if (rows.empty()) {
      return MakeError(
          ErrorCode::kE4003,
          fmt::format("no schedule {} (a one-off run removes itself once it fired)", schedule_id),
          {{"schedule_id", schedule_id}});
    }
    Schedule removed = ScheduleFromRow(rows[0]);
    if (!removed.request_id().empty()) {  // its run will never come
      tx.exec_params(
          "UPDATE magic.invocations SET state = 'CANCELLED', finished_at = now() "
          "WHERE request_id = $1 AND state = 'QUEUED'",
          removed.request_id());
    }
    return removed;
  });
}

// ---------------------------------------------------------------------------
// Dead letters and retries

absl::Status TimerService::SendDeadLetters(const std::vector<DeadLetter>& letters) {
  if (letters.empty()) return absl::OkStatus();
  std::vector<std::string> values;
  values.reserve(letters.size());
  for (const DeadLetter& letter : letters) values.push_back(DeadLetterJson(letter));
  std::vector<kafka::ProducerRecord> records;
  for (size_t i = 0; i < letters.size(); ++i) {
    records.push_back(
        {.topic = options_.dlq_topic, .key = letters[i].request_id, .value = values[i]});
  }
  absl::Status sent = kafka::ProduceAll(producer_, records, options_.ack_timeout);
  for (const DeadLetter& letter : letters) {
    MAGIC_LOG(warn, "dead letter",
              {{"request_id", letter.request_id},
               {"controller", letter.controller},
               {"code", letter.reason.code()},
               {"attempts", letter.attempts},
               {"sent", sent.ok()}});
  }
  return sent;
}

absl::StatusOr<std::vector<InvocationResult>> TimerService::TakeRetries(
    std::vector<InvocationResult> results) {
  std::vector<const InvocationResult*> retry, dead;
  std::set<std::string> seen;
  for (const InvocationResult& r : results) {
    if (r.state() != magic::v1::FAILED || !seen.insert(r.request_id()).second) continue;
    if (ShouldRetry(r)) {
      retry.push_back(&r);
    } else if (r.retry().max_attempts() > 1 || Unattended(r.source())) {
      dead.push_back(&r);
    }
  }
  if (retry.empty() && dead.empty()) return results;
  const absl::Time now = clock_.Now();
  std::set<std::string> retried;
  std::vector<DeadLetter> letters;
  MAGIC_RETURN_IF_ERROR(pool_.WithTransaction([&](pqxx::work& tx) -> absl::Status {
    retried.clear();
    letters.clear();
    for (const InvocationResult* r : retry) {
      const uint32_t next = std::max<uint32_t>(r->attempt(), 1) + 1;
      const pqxx::result row = tx.exec_params(
          "SELECT 1 FROM magic.invocations WHERE request_id = $1 AND state IN ('QUEUED', "
          "'RUNNING') AND input_json IS NOT NULL FOR UPDATE",
          r->request_id());
      if (row.empty()) {  // no stored input (or already finished): cannot run it again
        dead.push_back(r);
        continue;
      }
      const absl::Time run_at = now + Backoff(next, options_.backoff, UnitRandom());
      WriteRetry(tx, r->request_id(), r->controller(), next, run_at,
                 internal::ErrorToJson(r->error()));
      retried.insert(r->request_id());
      MAGIC_LOG(info, "retry scheduled",
                {{"request_id", r->request_id()},
                 {"attempt", next},
                 {"code", r->error().code()},
                 {"in_ms", absl::ToInt64Milliseconds(run_at - now)}});
    }
    for (const InvocationResult* r : dead) {
      const pqxx::result row = tx.exec_params(
          "SELECT COALESCE(input_json::text, '') FROM magic.invocations WHERE request_id = $1",
          r->request_id());
      letters.push_back({.request_id = r->request_id(),
                         .controller = r->controller(),
                         .version = r->version(),
                         .source = r->source(),
                         .attempts = std::max<uint32_t>(r->attempt(), 1),
                         .reason = r->error(),
                         .input_json = row.empty() ? "" : row[0][0].as<std::string>(),
                         .failed_unix_ms = r->finished_unix_ms()});
    }
    return absl::OkStatus();
  }));
  MAGIC_RETURN_IF_ERROR(SendDeadLetters(letters));
  std::vector<InvocationResult> finals;
  finals.reserve(results.size());
  for (InvocationResult& r : results) {
    if (r.state() == magic::v1::FAILED && retried.contains(r.request_id())) continue;
    finals.push_back(std::move(r));
  }
  return finals;
}

// ---------------------------------------------------------------------------
// Fire pass

absl::StatusOr<int> TimerService::FirePass() {
  const absl::Time now = clock_.Now();
  std::vector<DeadLetter> letters;
  int fired = 0;
  absl::Status done = pool_.WithTransaction(
      [&](pqxx::work& tx) -> absl::Status {
        letters.clear();
        fired = 0;
        const pqxx::result rows = tx.exec_params(R"sql(
SELECT timer_id, kind, controller, COALESCE(input_json::text, '{}'), COALESCE(cron, ''),
       (extract(epoch FROM run_at) * 1000)::bigint, COALESCE(request_id, ''), attempt,
       timeout_ms, max_attempts
FROM magic.timers WHERE run_at <= to_timestamp($1::bigint / 1000.0)
ORDER BY run_at FOR UPDATE SKIP LOCKED LIMIT $2
)sql",
                                                 absl::ToUnixMillis(now), options_.batch_limit);
        std::vector<InvocationJob> jobs, queued;
        for (const pqxx::row& row : rows) {
          Due due{.timer_id = row[0].as<std::string>(),
                  .kind = row[1].as<std::string>(),
                  .controller = row[2].as<std::string>(),
                  .input_json = row[3].as<std::string>(),
                  .cron = row[4].as<std::string>(),
                  .request_id = row[6].as<std::string>(),
                  .run_at_ms = row[5].as<int64_t>(),
                  .attempt = row[7].as<uint32_t>(),
                  .timeout_ms = row[8].as<uint32_t>(),
                  .max_attempts = row[9].as<uint32_t>()};
          absl::StatusOr<InvocationJob> job;
          std::string input = due.input_json;
          StoredRun stored;
          if (due.kind == "retry") {
            tx.exec_params("DELETE FROM magic.timers WHERE timer_id = $1", due.timer_id);
            const pqxx::result run = tx.exec_params(R"sql(
SELECT version, COALESCE(input_json::text, ''), COALESCE(run_json::text, ''),
       COALESCE(batch_id, '')
FROM magic.invocations WHERE request_id = $1 AND state = 'QUEUED' FOR UPDATE
)sql",
                                                    due.request_id);
            if (run.empty()) continue;  // finished or cancelled meanwhile
            input = run[0][1].as<std::string>();
            stored = ParseRun(run[0][2].as<std::string>());
            auto version = registry_.Get(due.controller, run[0][0].as<std::string>());
            job = version.ok()
                      ? MakeJob(**version,
                                {.request_id = due.request_id,
                                 .input_json = input,
                                 .timeout_ms = stored.timeout_ms,
                                 .ttl = stored.ttl_ms > 0 ? absl::Milliseconds(stored.ttl_ms)
                                                          : options_.submit_ttl,
                                 .attempt = due.attempt,
                                 .retry = stored.retry,
                                 .source = stored.source,
                                 .batch_id = run[0][3].as<std::string>()},
                                now, signer_)
                      : absl::StatusOr<InvocationJob>(version.status());
            if (job.ok()) {
              tx.exec_params(
                  "UPDATE magic.invocations SET deadline_at = to_timestamp($2::bigint / 1000.0) "
                  "WHERE request_id = $1",
                  due.request_id, job->deadline_unix_ms());
            }
          } else {
            const bool cron = due.kind == "cron";
            std::optional<absl::Time> next;
            if (cron) {
              absl::StatusOr<CronSchedule> parsed = CronSchedule::Parse(due.cron);
              if (parsed.ok())
                next = parsed->Next(std::max(now, absl::FromUnixMillis(due.run_at_ms)));
            }
            // A cron run's id names its schedule and slot: firing the same slot
            // twice (a crash before commit) repeats the same run.
            const std::string run_id =
                cron ? fmt::format("{}-{}", due.timer_id, due.run_at_ms / 1000) : due.request_id;
            due.request_id = run_id;
            auto version = registry_.Active(due.controller);
            absl::StatusOr<magic::v1::RetryPolicy> retry =
                MakeRetryPolicy(due.max_attempts, false, false);
            job = !version.ok() ? absl::StatusOr<InvocationJob>(version.status())
                  : !retry.ok() ? absl::StatusOr<InvocationJob>(retry.status())
                                : MakeJob(**version,
                                          {.request_id = run_id,
                                           .input_json = input,
                                           .timeout_ms = due.timeout_ms,
                                           .ttl = options_.submit_ttl,
                                           .retry = *retry,
                                           .source = "timer"},
                                          now, signer_);
            if (cron && next.has_value()) {
              tx.exec_params(
                  "UPDATE magic.timers SET run_at = to_timestamp($2::bigint / 1000.0), "
                  "fired = fired + 1, last_request_id = $3 WHERE timer_id = $1",
                  due.timer_id, absl::ToUnixMillis(*next), run_id);
            } else {
              if (cron) MAGIC_LOG(err, "cron schedule unreadable; removed", {{"id", due.timer_id}});
              tx.exec_params("DELETE FROM magic.timers WHERE timer_id = $1", due.timer_id);
            }
            if (job.ok()) queued.push_back(*job);
          }
          ++fired;
          if (!job.ok()) {
            // Nothing can run it (undeployed, input no longer valid): a
            // failed run with its reason, never a silent skip.
            const std::string error_json = StatusJson(job.status(), due.request_id);
            WriteFailed(tx, due.request_id, due.controller, input, error_json, due.attempt);
            letters.push_back({.request_id = due.request_id,
                               .controller = due.controller,
                               .source = due.kind == "retry" ? stored.source : "timer",
                               .attempts = due.attempt,
                               .reason = WireError(job.status(), due.request_id),
                               .input_json = input,
                               .origin = {{"schedule_id", due.timer_id}},
                               .failed_unix_ms = absl::ToUnixMillis(now)});
            continue;
          }
          jobs.push_back(*std::move(job));
        }
        internal::WriteQueuedJobs(tx, queued);
        if (jobs.empty()) return absl::OkStatus();
        std::vector<std::string> values;
        values.reserve(jobs.size());
        std::vector<kafka::ProducerRecord> records;
        for (const InvocationJob& job : jobs) values.push_back(job.SerializeAsString());
        for (size_t i = 0; i < jobs.size(); ++i) {
          records.push_back(
              {.topic = options_.jobs_topic, .key = jobs[i].controller(), .value = values[i]});
        }
        // Not acknowledged: roll back, and the timers fire on a later pass.
        return kafka::ProduceAll(producer_, records, options_.ack_timeout);
      },
      /*attempts=*/1);
  if (!done.ok()) return done;
  fired_.fetch_add(static_cast<uint64_t>(fired), std::memory_order_relaxed);
  if (absl::Status s = SendDeadLetters(letters); !s.ok()) {
    MAGIC_LOG(err, "dead letters not published", {{"error", s.ToString()}});
  }
  return fired;
}

// ---------------------------------------------------------------------------
// Watchdog

absl::StatusOr<int> TimerService::WatchPass() {
  const absl::Time now = clock_.Now();
  std::vector<DeadLetter> letters;
  int acted = 0;
  MAGIC_RETURN_IF_ERROR(pool_.WithTransaction([&](pqxx::work& tx) -> absl::Status {
    letters.clear();
    acted = 0;
    const pqxx::result rows =
        tx.exec_params(R"sql(
SELECT i.request_id, i.controller, i.version, i.state, i.attempts,
       COALESCE(i.run_json::text, ''), COALESCE(i.input_json::text, '')
FROM magic.invocations i
WHERE i.state IN ('QUEUED', 'RUNNING')
  AND ((i.state = 'RUNNING' AND i.lease_until < to_timestamp($1::bigint / 1000.0))
    OR (i.state = 'QUEUED' AND i.deadline_at < to_timestamp($2::bigint / 1000.0)
        AND NOT EXISTS (SELECT 1 FROM magic.timers t WHERE t.request_id = i.request_id)))
ORDER BY i.created_at FOR UPDATE OF i SKIP LOCKED LIMIT $3
)sql",
                       absl::ToUnixMillis(now), absl::ToUnixMillis(now - options_.deadline_grace),
                       options_.batch_limit);
    for (const pqxx::row& row : rows) {
      const std::string id = row[0].as<std::string>();
      const std::string controller = row[1].as<std::string>();
      const bool running = row[3].as<std::string>() == "RUNNING";
      const uint32_t attempts = std::max<uint32_t>(row[4].as<uint32_t>(), 1);
      const StoredRun stored = ParseRun(row[5].as<std::string>());
      const std::string input = row[6].as<std::string>();
      const absl::Status why =
          running ? MakeError(ErrorCode::kE3005,
                              "worker lost: the run started but no result came before its lease "
                              "ended",
                              {{"attempt", attempts}, {"worker_lost", true}})
                  : MakeError(ErrorCode::kE3001,
                              "the deadline passed before any worker ran it; it was not run late",
                              {{"never_ran", true}});
      ++acted;
      if (running && attempts < stored.retry.max_attempts() && !input.empty()) {
        const absl::Time run_at = now + Backoff(attempts + 1, options_.backoff, UnitRandom());
        WriteRetry(tx, id, controller, attempts + 1, run_at, StatusJson(why, id));
        MAGIC_LOG(warn, "worker lost; run re-queued",
                  {{"request_id", id}, {"attempt", attempts + 1}});
        continue;
      }
      WriteFailed(tx, id, controller, input, StatusJson(why, id), attempts);
      letters.push_back({.request_id = id,
                         .controller = controller,
                         .version = row[2].as<std::string>(),
                         .source = stored.source,
                         .attempts = attempts,
                         .reason = WireError(why, id),
                         .input_json = input,
                         .failed_unix_ms = absl::ToUnixMillis(now)});
    }
    return absl::OkStatus();
  }));
  if (absl::Status s = SendDeadLetters(letters); !s.ok()) {
    MAGIC_LOG(err, "dead letters not published", {{"error", s.ToString()}});
  }
  return acted;
}

// ---------------------------------------------------------------------------
// Thread

void TimerService::Start() {
  loop_.Start([this, next_watch = clock_.Now()]() mutable {
    if (absl::StatusOr<int> n = FirePass(); !n.ok()) {
      MAGIC_LOG(warn, "timer pass failed; retried next tick", {{"error", n.status().ToString()}});
    }
    if (clock_.Now() >= next_watch) {
      if (absl::StatusOr<int> n = WatchPass(); !n.ok()) {
        MAGIC_LOG(warn, "watchdog pass failed", {{"error", n.status().ToString()}});
      }
      next_watch = clock_.Now() + options_.watch_interval;
    }
    return absl::ToChronoMilliseconds(options_.tick);
  });
}

void TimerService::Stop() { loop_.Stop(); }

}  // namespace magic::scheduler
