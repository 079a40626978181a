// Error policy (see CONTRIBUTING.md):
//  - Expected outcomes (no face, no match, a photo that cannot be decoded) are
//    values returned to the caller, never exceptions.
//  - Broken installations (missing or corrupt model, unusable runtime) throw
//    one of the exceptions below at open time, with a message that says how to
//    fix the problem.
//  - assert() only guards internal invariants.
#pragma once

#include <stdexcept>
#include <string>

namespace likeness {

// Base of every exception Likeness throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model file is missing, corrupt, or does not match its manifest entry.
// The message names the file and the command that repairs it.
class ModelError : public Error {
 public:
  using Error::Error;
};

// The caller passed something that cannot work (wrong tensor shape, unknown
// model name, bad option value). The message says what was expected.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace likeness
