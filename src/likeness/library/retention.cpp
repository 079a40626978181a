#include "likeness/library/retention.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "likeness/core/error.h"

namespace likeness::library {
namespace {

constexpr const char* kPolicyKey = "retention_policy";
constexpr std::int64_t kSecondsPerDay = 24 * 60 * 60;

}  // namespace

std::string retention_policy_json(const RetentionPolicy& policy) {
  return nlohmann::json{
      {"unnamed_face_days", policy.unnamed_face_days ? nlohmann::json(*policy.unnamed_face_days)
                                                     : nlohmann::json(nullptr)},
      {"vanished_photos", policy.vanished_photos}}
      .dump();
}

RetentionPolicy load_retention_policy(store::Catalog& catalog) {
  RetentionPolicy policy;
  const std::optional<std::string> text = catalog.setting(kPolicyKey);
  if (!text) return policy;
  const nlohmann::json stored = nlohmann::json::parse(*text, nullptr, false);
  if (!stored.is_object()) {
    throw UsageError("the library's retention policy is not valid JSON (" + *text +
                     "); set it again with `likeness privacy retention`");
  }
  if (const auto days = stored.find("unnamed_face_days");
      days != stored.end() && days->is_number_integer()) {
    policy.unnamed_face_days = days->get<int>();
  }
  policy.vanished_photos = stored.value("vanished_photos", false);
  return policy;
}

void save_retention_policy(store::Catalog& catalog, const RetentionPolicy& policy) {
  if (policy.unnamed_face_days && *policy.unnamed_face_days < 0) {
    throw UsageError("retention: the number of days cannot be negative");
  }
  catalog.set_setting(kPolicyKey, retention_policy_json(policy));
}

ErasurePlan plan_retention(store::Catalog& catalog, const RetentionPolicy& policy,
                           std::int64_t now) {
  ErasurePlan plan;
  plan.scope = "retention";
  plan.audit_action = "retention";
  if (policy.unnamed_face_days) {
    std::set<std::int64_t> named_people;
    for (const store::Person& p : catalog.list_people()) {
      if (p.name && !p.name->empty()) named_people.insert(p.id);
    }
    std::set<std::int64_t> kept;  // faces of a named person
    for (const store::FacePersonLink& link : catalog.all_links()) {
      if (link.origin != store::LinkOrigin::kRejected && named_people.count(link.person_id)) {
        kept.insert(link.face_id);
      }
    }
    const std::int64_t cutoff = now - std::int64_t{*policy.unnamed_face_days} * kSecondsPerDay;
    for (const store::Face& face : catalog.all_faces()) {
      if (!kept.count(face.id) && face.created_at < cutoff) plan.faces.push_back(face.id);
    }
  }
  if (policy.vanished_photos) {
    for (const store::Photo& photo : catalog.list_photos(store::PhotoStatus::kVanished)) {
      plan.photos.push_back(photo.id);
    }
  }
  std::sort(plan.faces.begin(), plan.faces.end());
  return plan;
}

ErasureReport apply_retention(Library& library, const RetentionPolicy& policy, std::int64_t now) {
  return erase(library, plan_retention(library.catalog(), policy, now));
}

}  // namespace likeness::library
