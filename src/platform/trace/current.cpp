// Thread-local current trace context.
#include "platform/trace/current.hpp"

namespace intercab::trace {
namespace {
thread_local const TraceContext* current_context = nullptr;
}

const TraceContext* current() { return current_context; }

ScopedTrace::ScopedTrace(const TraceContext& context) : previous_(current_context) { current_context = &context; }

ScopedTrace::~ScopedTrace() { current_context = previous_; }

}  // namespace intercab::trace
