#include "scheduler/control_service.h"

#include "common/errors.h"
#include "common/logging.h"
#include "proto/wire_errors.h"

#include <fmt/format.h>

namespace magic::scheduler {
namespace {

constexpr size_t kMaxNameBytes = 256;

// Names and versions come from the caller: bounded and non-empty before
// they reach a query or a log line.
absl::Status CheckArgument(std::string_view what, const std::string& value) {
  if (value.empty() || value.size() > kMaxNameBytes) {
    return MakeError(ErrorCode::kE1005,
                     fmt::format("{} must be 1 to {} bytes", what, kMaxNameBytes),
                     {{"field", std::string(what)}});
  }
  return absl::OkStatus();
}

grpc::Status Answer(const absl::StatusOr<Deployment>& result, grpc::ServerContext& context,
                    magic::v1::Deployment* response) {
  if (!result.ok()) return ToGrpcStatus(result.status(), "", context);
  *response = ToProto(*result);
  return grpc::Status::OK;
}

}  // namespace

magic::v1::Deployment ToProto(const Deployment& d) {
  magic::v1::Deployment out;
  out.set_name(d.name);
  out.set_version(d.version);
  out.set_digest(d.digest);
  out.set_created(d.created);
  out.set_undeployed(d.undeployed);
  out.set_previous_version(d.previous_version);
  out.set_unix_ms(d.unix_ms);
  return out;
}

magic::v1::ControllerInfo ToProto(const ControllerInfo& info) {
  magic::v1::ControllerInfo out;
  out.set_name(info.name);
  out.set_active_version(info.active_version);
  out.set_updated_unix_ms(info.updated_unix_ms);
  for (const VersionInfo& v : info.versions) {
    magic::v1::VersionInfo* p = out.add_versions();
    p->set_version(v.version);
    p->set_digest(v.digest);
    p->set_contract_digest(v.contract_digest);
    p->set_created_unix_ms(v.created_unix_ms);
    p->set_active(v.active);
  }
  return out;
}

grpc::Status ControlService::Deploy(grpc::ServerContext* context,
                                    const magic::v1::DeployRequest* request,
                                    magic::v1::Deployment* response) {
  std::vector<contracts::BundleFile> files;
  files.reserve(static_cast<size_t>(request->files_size()));
  for (const magic::v1::BundleFile& f : request->files()) files.push_back({f.path(), f.content()});
  return Answer(deployer_.Deploy(std::move(files)), *context, response);
}

grpc::Status ControlService::List(grpc::ServerContext* context,
                                  const magic::v1::ListControllersRequest* /*request*/,
                                  magic::v1::ListControllersResponse* response) {
  auto infos = deployer_.store().List();
  if (!infos.ok()) return ToGrpcStatus(infos.status(), "", *context);
  for (const ControllerInfo& info : *infos) *response->add_controllers() = ToProto(info);
  return grpc::Status::OK;
}

grpc::Status ControlService::Get(grpc::ServerContext* context,
                                 const magic::v1::GetControllerRequest* request,
                                 magic::v1::ControllerInfo* response) {
  if (absl::Status s = CheckArgument("name", request->name()); !s.ok()) {
    return ToGrpcStatus(s, "", *context);
  }
  auto info = deployer_.store().Get(request->name());
  if (!info.ok()) return ToGrpcStatus(info.status(), "", *context);
  *response = ToProto(*info);
  return grpc::Status::OK;
}

grpc::Status ControlService::Rollback(grpc::ServerContext* context,
                                      const magic::v1::RollbackRequest* request,
                                      magic::v1::Deployment* response) {
  absl::Status s = CheckArgument("name", request->name());
  s.Update(CheckArgument("to_version", request->to_version()));
  if (!s.ok()) return ToGrpcStatus(s, "", *context);
  return Answer(deployer_.Rollback(request->name(), request->to_version()), *context, response);
}

grpc::Status ControlService::Undeploy(grpc::ServerContext* context,
                                      const magic::v1::UndeployRequest* request,
                                      magic::v1::Deployment* response) {
  if (absl::Status s = CheckArgument("name", request->name()); !s.ok()) {
    return ToGrpcStatus(s, "", *context);
  }
  return Answer(deployer_.Undeploy(request->name()), *context, response);
}

absl::Status ControlService::CheckTimers() const {
  if (timers_ != nullptr) return absl::OkStatus();
  return MakeError(ErrorCode::kE3005, "this control service runs no timers");
}

grpc::Status ControlService::CreateSchedule(grpc::ServerContext* context,
                                            const magic::v1::CreateScheduleRequest* request,
                                            magic::v1::Schedule* response) {
  absl::Status s = CheckTimers();
  s.Update(CheckArgument("controller", request->controller()));
  if (request->cron().size() > kMaxNameBytes) s.Update(CheckArgument("cron", request->cron()));
  if (!s.ok()) return ToGrpcStatus(s, "", *context);
  absl::StatusOr<magic::v1::Schedule> created = timers_->Create(*request);
  if (!created.ok()) return ToGrpcStatus(created.status(), "", *context);
  MAGIC_LOG(info, "schedule created",
            {{"id", created->schedule_id()},
             {"controller", created->controller()},
             {"cron", created->cron()},
             {"next_run_unix_ms", created->next_run_unix_ms()}});
  *response = *std::move(created);
  return grpc::Status::OK;
}

grpc::Status ControlService::ListSchedules(grpc::ServerContext* context,
                                           const magic::v1::ListSchedulesRequest* request,
                                           magic::v1::ListSchedulesResponse* response) {
  absl::Status s = CheckTimers();
  if (request->controller().size() > kMaxNameBytes) {
    s.Update(CheckArgument("controller", request->controller()));
  }
  if (!s.ok()) return ToGrpcStatus(s, "", *context);
  auto schedules = timers_->List(request->controller());
  if (!schedules.ok()) return ToGrpcStatus(schedules.status(), "", *context);
  for (magic::v1::Schedule& one : *schedules) *response->add_schedules() = std::move(one);
  return grpc::Status::OK;
}

grpc::Status ControlService::DeleteSchedule(grpc::ServerContext* context,
                                            const magic::v1::DeleteScheduleRequest* request,
                                            magic::v1::Schedule* response) {
  absl::Status s = CheckTimers();
  s.Update(CheckArgument("schedule_id", request->schedule_id()));
  if (!s.ok()) return ToGrpcStatus(s, "", *context);
  absl::StatusOr<magic::v1::Schedule> removed = timers_->Delete(request->schedule_id());
  if (!removed.ok()) return ToGrpcStatus(removed.status(), "", *context);
  *response = *std::move(removed);
  return grpc::Status::OK;
}

}  // namespace magic::scheduler
