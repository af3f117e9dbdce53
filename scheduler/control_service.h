// The Control gRPC service (magic.v1.Control): lifecycle verbs over the
// Deployer, schedule verbs over the TimerService. Synchronous handlers (each call is a few
// PostgreSQL statements and one Kafka ack); E-coded errors travel as the catalog's gRPC code plus
// the "magic-error-bin" trailer (proto/wire_errors.h ToGrpcStatus).
#pragma once

#include "magic/v1/control.grpc.pb.h"
#include "scheduler/deployed_registry.h"
#include "scheduler/timers.h"

#include <grpcpp/grpcpp.h>

namespace magic::scheduler {

magic::v1::Deployment ToProto(const Deployment& d);
magic::v1::ControllerInfo ToProto(const ControllerInfo& info);

class ControlService final : public magic::v1::Control::Service {
 public:
  // `timers` may be null: the schedule verbs then answer E3005.
  explicit ControlService(Deployer& deployer, TimerService* timers = nullptr)
      : deployer_(deployer), timers_(timers) {}

  grpc::Status Deploy(grpc::ServerContext* context, const magic::v1::DeployRequest* request,
                      magic::v1::Deployment* response) override;
  grpc::Status List(grpc::ServerContext* context, const magic::v1::ListControllersRequest* request,
                    magic::v1::ListControllersResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const magic::v1::GetControllerRequest* request,
                   magic::v1::ControllerInfo* response) override;
  grpc::Status Rollback(grpc::ServerContext* context, const magic::v1::RollbackRequest* request,
                        magic::v1::Deployment* response) override;
  grpc::Status Undeploy(grpc::ServerContext* context, const magic::v1::UndeployRequest* request,
                        magic::v1::Deployment* response) override;
  grpc::Status CreateSchedule(grpc::ServerContext* context,
                              const magic::v1::CreateScheduleRequest* request,
                              magic::v1::Schedule* response) override;
  grpc::Status ListSchedules(grpc::ServerContext* context,
                             const magic::v1::ListSchedulesRequest* request,
                             magic::v1::ListSchedulesResponse* response) override;
  grpc::Status DeleteSchedule(grpc::ServerContext* context,
                              const magic::v1::DeleteScheduleRequest* request,
                              magic::v1::Schedule* response) override;

 private:
  absl::Status CheckTimers() const;

  Deployer& deployer_;
  TimerService* timers_;
};

}  // namespace magic::scheduler
