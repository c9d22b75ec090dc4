// The trace context of the work the current thread is doing, so that outgoing calls and
// events carry it without every function passing it along.
#pragma once

#include "platform/trace/trace.hpp"

namespace intercab::trace {

// The current thread's context, or nullptr outside of any request or event handling.
const TraceContext* current();

// Makes `context` current for the lifetime of the scope, then restores the previous one.
class ScopedTrace {
 public:
  explicit ScopedTrace(const TraceContext& context);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  const TraceContext* previous_;
};

}  // namespace intercab::trace
