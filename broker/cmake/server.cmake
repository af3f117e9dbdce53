# One broker replica assembled (server.h) and the magic-broker binary.
magic_cc_library(NAME broker_server
  HDRS server.h
  SRCS server.cc
  DEPS magic::broker magic::broker_db magic::broker_http magic::broker_cache magic::broker_queue
       magic::broker_secrets magic::broker_audit magic::proto_util)
magic_cc_binary(NAME magic-broker SRCS main.cc DEPS magic::broker_server magic::scheduler_deployments)
