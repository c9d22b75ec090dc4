// Internal to platform/http: the Asio objects behind Runtime, shared by the server and the client.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "platform/http/server.hpp"

namespace intercab::http {

struct Runtime::Impl {
  Impl(int io_threads, int worker_threads);
  ~Impl();
  void stop();

  // The executor for one connection: a strand when several io threads could run its handlers
  // at once; with a single io thread the io_context itself already serialises them, and a
  // strand would only add a queue and a lock to every completion.
  boost::asio::any_io_executor connection_executor();

  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  boost::asio::thread_pool workers;
  std::vector<std::thread> io_runners;
  std::once_flag stopped;
};

}  // namespace intercab::http
