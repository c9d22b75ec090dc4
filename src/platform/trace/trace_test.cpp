// Tests of traceparent/tracestate handling against the edge cases of the W3C Trace Context spec.
#include "platform/trace/trace.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace intercab::trace {
namespace {

constexpr std::string_view kSpecExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr std::string_view kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParentId = "00f067aa0ba902b7";

std::string traceparent(std::string_view version, std::string_view trace_id, std::string_view parent_id,
                        std::string_view flags) {
  return std::string(version) + "-" + std::string(trace_id) + "-" + std::string(parent_id) + "-" + std::string(flags);
}

bool accepted(std::string_view header) { return parse_traceparent(header).has_value(); }

// Returns the words it was given, in a loop, so that generated ids are known in advance.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::vector<uint64_t> words) : words_(std::move(words)) {}
  uint64_t next() override { return words_[next_++ % words_.size()]; }

 private:
  std::vector<uint64_t> words_;
  std::size_t next_ = 0;
};

TEST(Traceparent, ParsesTheSpecExample) {
  auto context = parse_traceparent(kSpecExample);
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(context->trace_id_hex(), kTraceId);
  EXPECT_EQ(context->span_id_hex(), kParentId);
  EXPECT_EQ(context->trace_id[0], 0x4B);
  EXPECT_EQ(context->span_id[7], 0xB7);
  EXPECT_TRUE(context->sampled());
  EXPECT_EQ(context->tracestate, "");
}

TEST(Traceparent, ReadsTheSampledFlagAsABit) {
  EXPECT_FALSE(parse_traceparent(traceparent("00", kTraceId, kParentId, "00"))->sampled());
  EXPECT_TRUE(parse_traceparent(traceparent("00", kTraceId, kParentId, "09"))->sampled());
  EXPECT_FALSE(parse_traceparent(traceparent("00", kTraceId, kParentId, "fe"))->sampled());
}

TEST(Traceparent, ClearsFlagsLevelOneDoesNotDefine) {
  EXPECT_EQ(parse_traceparent(traceparent("00", kTraceId, kParentId, "ff"))->flags, kSampledFlag);
  EXPECT_EQ(parse_traceparent(traceparent("00", kTraceId, kParentId, "08"))->flags, 0);
}

TEST(Traceparent, RoundTrips) {
  EXPECT_EQ(to_traceparent(*parse_traceparent(kSpecExample)), kSpecExample);
  auto unsampled = traceparent("00", kTraceId, kParentId, "00");
  EXPECT_EQ(to_traceparent(*parse_traceparent(unsampled)), unsampled);
}

TEST(Traceparent, RejectsWrongLengths) {
  EXPECT_FALSE(accepted(""));
  EXPECT_FALSE(accepted(kSpecExample.substr(0, 54)));
  EXPECT_FALSE(accepted(std::string(kSpecExample) + "0"));
  EXPECT_FALSE(accepted(std::string(kSpecExample) + "-"));
  EXPECT_FALSE(accepted(traceparent("0", kTraceId, kParentId, "01") + "0"));
  EXPECT_FALSE(accepted(traceparent("000", kTraceId, kParentId, "1")));
  EXPECT_FALSE(accepted(traceparent("00", kTraceId.substr(1), kParentId, "01") + "0"));
  EXPECT_FALSE(accepted(traceparent("00", std::string(kTraceId) + "0", kParentId.substr(1), "01")));
  EXPECT_FALSE(accepted(traceparent("00", kTraceId, kParentId.substr(1), "01") + "0"));
  EXPECT_FALSE(accepted(traceparent("00", kTraceId, std::string(kParentId) + "0", "1")));
  EXPECT_FALSE(accepted(traceparent("00", kTraceId, kParentId, "1")));
  EXPECT_FALSE(accepted(traceparent("00", kTraceId, kParentId, "011")));
}

TEST(Traceparent, RejectsUppercaseHex) {
  EXPECT_FALSE(accepted("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
}

TEST(Traceparent, RejectsAllZeroIds) {
  EXPECT_FALSE(accepted(traceparent("00", std::string(32, '0'), kParentId, "01")));
  EXPECT_FALSE(accepted(traceparent("00", kTraceId, std::string(16, '0'), "01")));
  EXPECT_TRUE(accepted(traceparent("00", std::string(31, '0') + "1", std::string(15, '0') + "1", "00")));
}

TEST(Traceparent, RejectsVersionFf) {
  EXPECT_FALSE(accepted(traceparent("ff", kTraceId, kParentId, "01")));
  EXPECT_FALSE(accepted(traceparent("ff", kTraceId, kParentId, "01") + "-future"));
}

TEST(Traceparent, ParsesKnownFieldsOfFutureVersions) {
  auto future = parse_traceparent(traceparent("cc", kTraceId, kParentId, "01") + "-what-the-future-will-be-like");
  ASSERT_TRUE(future.has_value());
  EXPECT_EQ(future->trace_id_hex(), kTraceId);
  EXPECT_EQ(future->span_id_hex(), kParentId);
  EXPECT_TRUE(future->sampled());
  // Propagated as the highest version we know.
  EXPECT_EQ(to_traceparent(*future), kSpecExample);

  EXPECT_TRUE(accepted(traceparent("01", kTraceId, kParentId, "00")));
  EXPECT_TRUE(accepted(traceparent("fe", kTraceId, kParentId, "00") + "-"));
  EXPECT_FALSE(accepted(traceparent("cc", kTraceId, kParentId, "01") + ".what-the-future-will-be-like"));
  EXPECT_FALSE(accepted(traceparent("cc", kTraceId, kParentId, "011") + "-future"));
  EXPECT_FALSE(accepted(traceparent("cc", kTraceId, kParentId, "1")));
  // Version 00 has exactly four fields.
  EXPECT_FALSE(accepted(std::string(kSpecExample) + "-what-the-future-will-be-like"));
}

TEST(Traceparent, RejectsNonHexAndWrongDelimiters) {
  EXPECT_FALSE(accepted("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b.-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"));
  EXPECT_FALSE(accepted("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\xC3\xA9"));
  EXPECT_FALSE(accepted(std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55)));
}

TEST(Traceparent, IgnoresOptionalWhitespaceAroundButNotInside) {
  EXPECT_TRUE(accepted(" " + std::string(kSpecExample)));
  EXPECT_TRUE(accepted(std::string(kSpecExample) + "\t"));
  EXPECT_TRUE(accepted("\t " + std::string(kSpecExample) + " \t"));
  EXPECT_FALSE(accepted("00- 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929d0e0e4736 -00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("00-4bf92f3577b34da6a3ce929 0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(accepted("\n" + std::string(kSpecExample)));
  EXPECT_FALSE(accepted("   "));
}

std::string tracestate_of(std::string_view tracestate) {
  auto context = parse_traceparent(kSpecExample, tracestate);
  EXPECT_TRUE(context.has_value()) << "an invalid tracestate must not affect traceparent";
  return context ? context->tracestate : "<no traceparent>";
}

TEST(Tracestate, KeepsAValidList) {
  EXPECT_EQ(tracestate_of("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(tracestate_of("a*b/c_d-e=~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}"), "a*b/c_d-e=~!\"#$%&'()*+-./:;<>?@[\\]^_`{|}");
}

TEST(Tracestate, DropsOptionalWhitespaceAndEmptyMembers) {
  EXPECT_EQ(tracestate_of("foo=1 \t , \t bar=2, \t baz=3"), "foo=1,bar=2,baz=3");
  EXPECT_EQ(tracestate_of(",, foo=1 ,\t,"), "foo=1");
  EXPECT_EQ(tracestate_of(""), "");
  EXPECT_EQ(tracestate_of(" , "), "");
  // Leading spaces belong to the value; trailing ones are optional whitespace.
  EXPECT_EQ(tracestate_of("foo=  bar  "), "foo=  bar");
}

TEST(Tracestate, AcceptsThirtyTwoMembersAndDropsThirtyThree) {
  std::string list;
  for (int i = 0; i < 32; ++i) list += (i ? ",k" : "k") + std::to_string(i) + "=v";
  EXPECT_EQ(tracestate_of(list), list);
  EXPECT_EQ(tracestate_of(list + ",k32=v"), "");
}

TEST(Tracestate, ChecksKeyGrammar) {
  EXPECT_EQ(tracestate_of("FOO=1"), "");
  EXPECT_EQ(tracestate_of("foo.bar=1,ok=2"), "");
  EXPECT_EQ(tracestate_of("foo =1"), "");
  EXPECT_EQ(tracestate_of("=1"), "");
  EXPECT_EQ(tracestate_of("1foo=1"), "");  // a simple key starts with a letter
  EXPECT_EQ(tracestate_of("1tenant@vendor=1"), "1tenant@vendor=1");
  EXPECT_EQ(tracestate_of("foo@=1,bar=2"), "");
  EXPECT_EQ(tracestate_of("@foo=1,bar=2"), "");
  EXPECT_EQ(tracestate_of("foo@@bar=1,bar=2"), "");
  EXPECT_EQ(tracestate_of("foo@bar@baz=1,bar=2"), "");
  EXPECT_EQ(tracestate_of("tenant@1vendor=1"), "");  // a system id starts with a letter
}

TEST(Tracestate, ChecksKeyLengths) {
  std::string longest_key = std::string(256, 'k') + "=1";
  EXPECT_EQ(tracestate_of(longest_key), longest_key);
  EXPECT_EQ(tracestate_of(std::string(257, 'k') + "=1"), "");
  std::string longest_tenant = std::string(241, 't') + "@" + std::string(14, 's') + "=1";
  EXPECT_EQ(tracestate_of(longest_tenant), longest_tenant);
  EXPECT_EQ(tracestate_of(std::string(242, 't') + "@s=1"), "");
  EXPECT_EQ(tracestate_of("t@" + std::string(15, 's') + "=1"), "");
}

TEST(Tracestate, ChecksValues) {
  EXPECT_EQ(tracestate_of("foo=bar=baz"), "");
  EXPECT_EQ(tracestate_of("foo=,bar=3"), "");
  EXPECT_EQ(tracestate_of("foo"), "");
  EXPECT_EQ(tracestate_of("foo=a\tb"), "");
  EXPECT_EQ(tracestate_of("foo=a\x7F"), "");
  EXPECT_EQ(tracestate_of("foo=caf\xC3\xA9"), "");
  std::string longest_value = "foo=" + std::string(256, 'v');
  EXPECT_EQ(tracestate_of(longest_value), longest_value);
  EXPECT_EQ(tracestate_of("foo=" + std::string(257, 'v')), "");
}

TEST(Tracestate, DropsDuplicateKeys) { EXPECT_EQ(tracestate_of("foo=1,bar=2,foo=1"), ""); }

TEST(Tracestate, TruncatesWholeEntriesFromTheEndPastFiveHundredTwelveCharacters) {
  std::vector<std::string> entries;
  std::string list;
  for (int i = 0; i < 10; ++i) {
    entries.push_back("k" + std::to_string(i) + "=" + std::string(98, 'v'));  // 101 characters each
    list += (i ? "," : "") + entries.back();
  }
  // 5 entries and 4 commas are 509 characters; a sixth would make 611.
  std::string expected;
  for (int i = 0; i < 5; ++i) expected += (i ? "," : "") + entries[i];
  EXPECT_EQ(tracestate_of(list), expected);
  EXPECT_EQ(tracestate_of(expected), expected);
}

TEST(Tracestate, TruncatesEntriesLongerThan128CharactersFirst) {
  std::string long_entry = "long=" + std::string(200, 'v');
  std::string short_entries;
  for (int i = 0; i < 4; ++i) short_entries += ",k" + std::to_string(i) + "=" + std::string(98, 'v');
  EXPECT_EQ(tracestate_of(long_entry + short_entries), short_entries.substr(1));
}

TEST(Tracestate, IsIgnoredWhenTraceparentIsInvalid) {
  EXPECT_FALSE(parse_traceparent("00-garbage", "foo=1").has_value());
}

TEST(Generation, NewRootUsesTheInjectedRandomness) {
  ScriptedRandom random({0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x1122334455667788});
  auto root = new_root(random);
  EXPECT_EQ(root.trace_id_hex(), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ(root.span_id_hex(), "1122334455667788");
  EXPECT_TRUE(root.sampled());
  EXPECT_EQ(root.tracestate, "");
  EXPECT_EQ(to_traceparent(root), "00-0123456789abcdeffedcba9876543210-1122334455667788-01");
}

TEST(Generation, NeverProducesAllZeroIds) {
  ScriptedRandom zeros({0});
  auto root = new_root(zeros);
  auto child = child_of(root, zeros);
  EXPECT_TRUE(accepted(to_traceparent(root)));
  EXPECT_TRUE(accepted(to_traceparent(child)));
}

TEST(Generation, ChildKeepsTraceIdFlagsAndTracestate) {
  auto parent = *parse_traceparent(traceparent("00", kTraceId, kParentId, "00"), "congo=t61rcWkgMzE");
  ScriptedRandom random({42});
  auto child = child_of(parent, random);
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_EQ(child.flags, parent.flags);
  EXPECT_EQ(child.tracestate, parent.tracestate);
  EXPECT_EQ(child.span_id_hex(), "000000000000002a");
  EXPECT_EQ(to_traceparent(child), "00-4bf92f3577b34da6a3ce929d0e0e4736-000000000000002a-00");
}

TEST(Generation, ProductionRandomnessGivesDistinctIdsAcrossThreads) {
  std::set<std::string> ids;
  std::vector<std::string> other_thread_ids;
  std::thread worker([&] {
    for (int i = 0; i < 100; ++i) other_thread_ids.push_back(to_traceparent(new_root()));
  });
  worker.join();
  for (int i = 0; i < 100; ++i) ids.insert(to_traceparent(new_root()));
  ids.insert(other_thread_ids.begin(), other_thread_ids.end());
  EXPECT_EQ(ids.size(), 200U);
  for (const auto& id : ids) EXPECT_TRUE(accepted(id)) << id;
}

}  // namespace
}  // namespace intercab::trace
