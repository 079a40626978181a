// Retention (GDPR Art. 5(1)(e), storage limitation): faces are not kept for
// longer than the library's owner decided. The policy is a library setting;
// `likeness privacy apply-retention` applies it, and so does every
// `likeness index` run.
//
//   RetentionPolicy policy = load_retention_policy(catalog);
//   policy.unnamed_face_days = 365;
//   save_retention_policy(catalog, policy);
//   RetentionReport r = apply_retention(*library, policy, now_seconds);
//
// Rules (each off unless set):
//  - unnamed_face_days: a face that belongs to no named person (unclustered,
//    or only in clusters nobody named) is deleted this many days after it was
//    indexed. Naming a person keeps their faces.
//  - vanished_photos: the faces and records of photos that were missing from
//    disk at an index run are deleted.
// Deletion goes through erase() (library/erasure.h): secure delete, purge,
// index rewrite, and an audit entry with action "retention".
//
// Errors: UsageError for a malformed stored policy; StoreError from the library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "likeness/library/erasure.h"
#include "likeness/library/library.h"

namespace likeness::library {

struct RetentionPolicy {
  std::optional<int> unnamed_face_days;  // empty = keep unnamed faces
  bool vanished_photos = false;          // delete the faces of vanished photos
  bool any() const { return unnamed_face_days.has_value() || vanished_photos; }
};

RetentionPolicy load_retention_policy(store::Catalog& catalog);
void save_retention_policy(store::Catalog& catalog, const RetentionPolicy& policy);
// {"unnamed_face_days": 365 | null, "vanished_photos": false}
std::string retention_policy_json(const RetentionPolicy& policy);

// What the policy would delete now (`now`: seconds since the epoch).
ErasurePlan plan_retention(store::Catalog& catalog, const RetentionPolicy& policy,
                           std::int64_t now);

// Applies the policy; a policy that deletes nothing writes no audit entry.
ErasureReport apply_retention(Library& library, const RetentionPolicy& policy, std::int64_t now);

}  // namespace likeness::library
