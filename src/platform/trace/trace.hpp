// W3C Trace Context level 1: parsing, creating and printing `traceparent`/`tracestate`.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace intercab::trace {

inline constexpr uint8_t kSampledFlag = 0x01;

// The position of one operation in a distributed trace, as carried by `traceparent` and `tracestate`.
struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // the traceparent's parent-id: the span that made this request
  uint8_t flags = 0;
  std::string tracestate;  // normalised (no optional whitespace); empty when absent or invalid

  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  bool sampled() const { return (flags & kSampledFlag) != 0; }

  bool operator==(const TraceContext&) const = default;
};

// Source of random 64-bit words for ids: an interface so that tests can make ids predictable.
class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next() = 0;
};

// The production source for the calling thread: std::mt19937_64 seeded from std::random_device. Ids need to be
// unique, not unguessable, so a non-cryptographic generator is enough.
Random& thread_random();

// Parses a `traceparent` header value (optional whitespace around it is ignored, as HTTP does) and, if that is
// valid, the combined `tracestate` header. Returns nullopt when traceparent is invalid: the caller starts a new
// trace. An invalid tracestate is dropped without affecting traceparent; one longer than 512 characters loses
// entries (longest ones over 128 characters first, then from the end) until it fits. Flags other than `sampled`
// are cleared, as level 1 requires of anyone propagating them.
std::optional<TraceContext> parse_traceparent(std::string_view header, std::string_view tracestate = {});

// A new trace (sampled: we record every trace and leave sampling to the collector) with no tracestate.
TraceContext new_root(Random& random = thread_random());

// The context of an operation started by `parent`: same trace id, flags and tracestate, a new span id.
TraceContext child_of(const TraceContext& parent, Random& random = thread_random());

// `00-<trace-id>-<parent-id>-<flags>`, always version 00 (the highest version we know), lowercase hex.
std::string to_traceparent(const TraceContext& context);

}  // namespace intercab::trace
