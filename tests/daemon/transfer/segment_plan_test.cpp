// SPDX-License-Identifier: MIT
#include "daemon/transfer/segment_plan.hpp"

#include <catch2/catch.hpp>

using pnsync::ByteRange;
using pnsync::SegmentPlan;

TEST_CASE("a new plan is one range over the file, resuming a plain prefix", "[segments]") {
  const SegmentPlan plan(1000, 300);
  REQUIRE(plan.ranges().size() == 1);
  CHECK(plan.range(0) == ByteRange{0, 1000, 300});
  CHECK(plan.on_disk() == 300);
  CHECK(plan.contiguous() == 300);
  CHECK_FALSE(plan.complete());
  CHECK(SegmentPlan(1000, 5000).range(0).next == 1000);  // never past the end
}

TEST_CASE("split halves what the widest range still lacks", "[segments]") {
  SegmentPlan plan(1000, 200);
  const auto back = plan.split(100);
  REQUIRE(back == 1);
  CHECK(plan.range(0) == ByteRange{0, 600, 200});  // 800 left: the front keeps 400 of them
  CHECK(plan.range(1) == ByteRange{600, 1000, 600});

  plan.range(1).next = 700;  // 300 left, against 400 in range 0
  const auto third = plan.split(100);
  REQUIRE(third == 2);
  CHECK(plan.range(0) == ByteRange{0, 400, 200});
  CHECK(plan.range(2) == ByteRange{400, 600, 400});

  SECTION("not below twice the minimum") {
    CHECK(plan.split_gives(151) == 0);
    CHECK_FALSE(plan.split(151));  // the widest lacks 300 (range 1)
    CHECK(plan.split_gives(150) == 150);
    CHECK(plan.split(150));
  }
}

TEST_CASE("contiguous stops at the first gap, complete needs every range", "[segments]") {
  SegmentPlan plan(1000, 0);
  plan.split(1);              // [0,500) [500,1000)
  plan.range(1).next = 1000;  // the back is done first
  CHECK(plan.contiguous() == 0);
  plan.range(0).next = 250;
  CHECK(plan.contiguous() == 250);
  CHECK(plan.on_disk() == 750);
  plan.range(0).next = 500;
  CHECK(plan.contiguous() == 1000);
  CHECK(plan.complete());
}

TEST_CASE("a plan reads back what it wrote", "[segments]") {
  SegmentPlan plan(10000, 1234);
  plan.split(10);
  plan.split(10);
  plan.range(1).next += 7;
  const std::string text = plan.serialize();
  CHECK(text == "0-3425:1234,5617-10000:5624,3425-5617:3425");
  const auto back = SegmentPlan::parse(text, 10000);
  REQUIRE(back);
  CHECK(back->ranges() == plan.ranges());
  CHECK(back->size() == 10000);
}

TEST_CASE("parse refuses ranges that do not tile the file", "[segments]") {
  const std::int64_t size = 100;
  CHECK(SegmentPlan::parse("0-100:40", size));
  CHECK(SegmentPlan::parse("50-100:60,0-50:50", size));  // any order
  const char* const bad[] = {
      "",                          // no ranges
      "0-100:40,",                 // trailing comma
      "0-90:40",                   // short of the size
      "0-110:40",                  // past the size (the file shrank upstream)
      "0-50:40,60-100:60",         // a gap
      "0-60:40,50-100:60",         // overlap
      "0-50:60,50-100:50",         // next past its end
      "0-50:40,50-100:49",         // next before its start
      "10-100:10",                 // not from 0
      "0-0:0,0-100:0",             // an empty range
      "-5-100:0",                  // negative
      "0-100",                     // no next
      "0-1e2:3",                   // not a number
      "0-100:40;",                 // junk
      "0-99999999999999999999:0",  // overflow
  };
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(SegmentPlan::parse(text, size));
  }
}

TEST_CASE("parse without a size takes the furthest end, and the prefix survives", "[segments]") {
  // A plan recorded for a size only a response told: the store has no size to check it against.
  const auto plan = SegmentPlan::parse("0-50:50,75-100:80,50-75:60");
  REQUIRE(plan);
  CHECK(plan->size() == 100);
  CHECK(plan->contiguous() == 60);
  CHECK_FALSE(SegmentPlan::parse("0-50:50,60-100:60"));  // a gap: no plan
  CHECK_FALSE(SegmentPlan::parse("0-50:50,"));
  CHECK_FALSE(SegmentPlan::parse(""));
}
