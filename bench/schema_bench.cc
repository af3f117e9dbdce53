// Input validation on the gateway's hot path: the spec's InvoiceSync input
// schema, compiled once, checked against a valid and an invalid input.
//
//   build/bin/schema_bench --benchmark_min_time=1
#include "common/errors.h"
#include "contracts/schema.h"
#include "contracts/testing/examples.h"

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

namespace magic::contracts {
namespace {

using nlohmann::json;

// The spec's InvoiceSync input schema, from examples/invoice_sync.
const json& InvoiceSyncInput() { return contracts::testing::InvoiceSyncInputSchema(); }

json ValidInput() {
  return json::parse(R"({
    "customer_id": "123e4567-e89b-12d3-a456-426614174000",
    "invoice_data": {
      "amount": 1200, "currency": "EUR",
      "line_items": [{"description": "Consulting", "amount": 1000},
                     {"description": "Travel", "amount": 200}]
    }
  })");
}

json InvalidInput() {
  json input = ValidInput();
  input["customer_id"] = "not-a-uuid";
  input["invoice_data"]["line_items"][1]["amount"] = 2.5;
  return input;
}

const SchemaValidator& Validator() {
  static const auto* const kValidator =
      new SchemaValidator(*SchemaValidator::Compile(InvoiceSyncInput()));
  return *kValidator;
}

void BM_ValidateValid(benchmark::State& state) {
  const SchemaValidator& v = Validator();
  const json input = ValidInput();
  for (auto _ : state) benchmark::DoNotOptimize(v.Validate(input, ErrorCode::kE1003));
}
BENCHMARK(BM_ValidateValid);

void BM_CheckValid(benchmark::State& state) {
  const SchemaValidator& v = Validator();
  const json input = ValidInput();
  for (auto _ : state) benchmark::DoNotOptimize(v.Check(input));
}
BENCHMARK(BM_CheckValid);

void BM_ValidateInvalid(benchmark::State& state) {
  const SchemaValidator& v = Validator();
  const json input = InvalidInput();
  for (auto _ : state) benchmark::DoNotOptimize(v.Validate(input, ErrorCode::kE1003));
}
BENCHMARK(BM_ValidateInvalid);

void BM_IsValidInvalid(benchmark::State& state) {
  const SchemaValidator& v = Validator();
  const json input = InvalidInput();
  for (auto _ : state) benchmark::DoNotOptimize(v.IsValid(input));
}
BENCHMARK(BM_IsValidInvalid);

// Parse + validate, as the gateway does per request.
void BM_ParseAndValidateValid(benchmark::State& state) {
  const SchemaValidator& v = Validator();
  const std::string body = ValidInput().dump();
  for (auto _ : state) {
    benchmark::DoNotOptimize(v.Validate(json::parse(body), ErrorCode::kE1003));
  }
}
BENCHMARK(BM_ParseAndValidateValid);

void BM_Compile(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(SchemaValidator::Compile(InvoiceSyncInput()));
}
BENCHMARK(BM_Compile);

void BM_MatchesFormatUuid(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(MatchesFormat("uuid", "123e4567-e89b-12d3-a456-426614174000"));
  }
}
BENCHMARK(BM_MatchesFormatUuid);

}  // namespace
}  // namespace magic::contracts
