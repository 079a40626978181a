#include "likeness/match/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "likeness/core/error.h"

namespace likeness::match {
namespace {

// log(1 + exp(m)) without overflow.
double softplus(double m) {
  return m > 0.0 ? m + std::log1p(std::exp(-m)) : std::log1p(std::exp(m));
}

// The samples in standardised feature space; what the optimiser sees.
struct Data {
  std::size_t n = 0, d = 0;
  std::vector<double> z;  // n x d, row-major; 0 for constant features
  std::vector<double> y;  // 0 or 1
  std::vector<double> s;  // sample weights, summing to 1
  std::vector<double> mean, scale;
  std::vector<bool> constant;

  const double* row(std::size_t i) const { return z.data() + i * d; }
};

// Model in standardised space; w[j] stays exactly 0 for a feature not being fitted.
struct Params {
  double bias = 0.0;
  std::vector<double> w;
};

double margin(const Data& data, const Params& p, std::size_t i) {
  const double* x = data.row(i);
  double m = p.bias;
  for (std::size_t j = 0; j < data.d; ++j) m += p.w[j] * x[j];
  return m;
}

// Mean log loss plus the L2 penalty: the function Newton minimises.
double objective(const Data& data, const Params& p, double l2) {
  double f = 0.0;
  for (std::size_t i = 0; i < data.n; ++i) {
    const double m = margin(data, p, i);
    f += data.s[i] * (softplus(m) - data.y[i] * m);
  }
  double norm = 0.0;
  for (double w : p.w) norm += w * w;
  return f + 0.5 * l2 * norm;
}

// Solves A x = b for symmetric positive (semi)definite A (row-major, k x k) by
// Cholesky. A semidefinite A (l2 = 0 on degenerate data) gets a growing ridge
// instead of failing: any descent direction will do there.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b) {
  const std::size_t k = b.size();
  double diag = 1.0;
  for (std::size_t i = 0; i < k; ++i) diag = std::max(diag, a[i * k + i]);
  std::vector<double> l(k * k);
  for (double ridge = 0.0;; ridge = ridge == 0.0 ? 1e-12 * diag : ridge * 100.0) {
    bool ok = true;
    for (std::size_t i = 0; i < k && ok; ++i) {
      for (std::size_t j = 0; j <= i; ++j) {
        double sum = a[i * k + j] + (i == j ? ridge : 0.0);
        for (std::size_t m = 0; m < j; ++m) sum -= l[i * k + m] * l[j * k + m];
        if (i == j) {
          if (!(sum > 0.0)) {
            ok = false;
            break;
          }
          l[i * k + i] = std::sqrt(sum);
        } else {
          l[i * k + j] = sum / l[j * k + j];
        }
      }
    }
    if (ok) break;
  }
  for (std::size_t i = 0; i < k; ++i) {  // L y = b
    for (std::size_t m = 0; m < i; ++m) b[i] -= l[i * k + m] * b[m];
    b[i] /= l[i * k + i];
  }
  for (std::size_t i = k; i-- > 0;) {  // L^T x = y
    for (std::size_t m = i + 1; m < k; ++m) b[i] -= l[m * k + i] * b[m];
    b[i] /= l[i * k + i];
  }
  return b;
}

// Damped Newton on the bias and the weights of `free` features, from `p`.
void newton(const Data& data, const std::vector<std::size_t>& free, const LogisticFitOptions& o,
            Params& p) {
  const std::size_t k = free.size() + 1;  // index 0 = bias
  std::vector<double> x(k);
  for (int iteration = 0; iteration < o.max_iterations; ++iteration) {
    std::vector<double> g(k, 0.0), h(k * k, 0.0);
    for (std::size_t i = 0; i < data.n; ++i) {
      const double* row = data.row(i);
      x[0] = 1.0;
      for (std::size_t j = 1; j < k; ++j) x[j] = row[free[j - 1]];
      const double prob = sigmoid(margin(data, p, i));
      const double r = data.s[i] * (prob - data.y[i]), c = data.s[i] * prob * (1.0 - prob);
      for (std::size_t a = 0; a < k; ++a) {
        g[a] += r * x[a];
        for (std::size_t b = 0; b <= a; ++b) h[a * k + b] += c * x[a] * x[b];
      }
    }
    for (std::size_t a = 0; a < k; ++a) {
      for (std::size_t b = 0; b < a; ++b) h[b * k + a] = h[a * k + b];
    }
    for (std::size_t j = 1; j < k; ++j) {
      g[j] += o.l2 * p.w[free[j - 1]];
      h[j * k + j] += o.l2;
    }
    std::vector<double> minus_g(k);
    for (std::size_t a = 0; a < k; ++a) minus_g[a] = -g[a];
    const std::vector<double> step = solve_spd(std::move(h), std::move(minus_g));
    double decrement = 0.0;  // squared Newton decrement, g' H^-1 g
    for (std::size_t a = 0; a < k; ++a) decrement -= g[a] * step[a];
    if (!(decrement / 2.0 > o.tolerance)) return;

    // Backtracking (Armijo): plain Newton can overshoot far from the optimum,
    // e.g. on nearly separable data where the loss is almost flat.
    const double f0 = objective(data, p, o.l2);
    bool moved = false;
    for (double t = 1.0; t > 1e-12 && !moved; t /= 2.0) {
      Params trial = p;
      trial.bias += t * step[0];
      for (std::size_t j = 1; j < k; ++j) trial.w[free[j - 1]] += t * step[j];
      if (objective(data, trial, o.l2) <= f0 - 0.25 * t * decrement) {
        p = std::move(trial);
        moved = true;
      }
    }
    if (!moved) return;  // at the optimum to machine precision
  }
}

// d objective / d w_j at w_j = 0, for a feature outside the fit.
double gradient(const Data& data, const Params& p, std::size_t j) {
  double g = 0.0;
  for (std::size_t i = 0; i < data.n; ++i) {
    g += data.s[i] * (sigmoid(margin(data, p, i)) - data.y[i]) * data.row(i)[j];
  }
  return g;
}

Data prepare(const std::vector<std::vector<double>>& features, const std::vector<int>& labels,
             const LogisticFitOptions& o) {
  Data data;
  data.n = features.size();
  if (data.n == 0) throw UsageError("fit_logistic: no samples");
  if (labels.size() != data.n) {
    throw UsageError("fit_logistic: " + std::to_string(data.n) + " feature rows but " +
                     std::to_string(labels.size()) + " labels; expected one label per row");
  }
  if (!o.sample_weights.empty() && o.sample_weights.size() != data.n) {
    throw UsageError("fit_logistic: " + std::to_string(o.sample_weights.size()) +
                     " sample weights for " + std::to_string(data.n) +
                     " samples; expected one per sample or none");
  }
  if (!(o.l2 >= 0.0) || !std::isfinite(o.l2) || o.max_iterations < 1 || !(o.tolerance >= 0.0)) {
    throw UsageError(
        "fit_logistic: expected l2 >= 0 (finite), max_iterations >= 1, tolerance >= 0");
  }
  data.d = features[0].size();
  data.z.reserve(data.n * data.d);
  data.y.resize(data.n);
  data.s.assign(data.n, 1.0);
  double total = 0.0, positive = 0.0;
  for (std::size_t i = 0; i < data.n; ++i) {
    if (features[i].size() != data.d) {
      throw UsageError("fit_logistic: row " + std::to_string(i) + " has " +
                       std::to_string(features[i].size()) + " features, row 0 has " +
                       std::to_string(data.d) + "; expected one length");
    }
    for (double v : features[i]) {
      if (!std::isfinite(v)) {
        throw UsageError("fit_logistic: non-finite feature in row " + std::to_string(i));
      }
      data.z.push_back(v);
    }
    if (labels[i] != 0 && labels[i] != 1) {
      throw UsageError("fit_logistic: label " + std::to_string(labels[i]) + " in row " +
                       std::to_string(i) + "; expected 0 or 1");
    }
    data.y[i] = labels[i];
    if (!o.sample_weights.empty()) {
      data.s[i] = o.sample_weights[i];
      if (!(data.s[i] >= 0.0) || !std::isfinite(data.s[i])) {
        throw UsageError("fit_logistic: sample weight " + std::to_string(i) +
                         " is negative or not finite");
      }
    }
    total += data.s[i];
    positive += data.s[i] * data.y[i];
  }
  if (!(positive > 0.0) || !(total - positive > 0.0)) {
    throw UsageError("fit_logistic: expected samples of both labels (with positive weight)");
  }
  for (double& s : data.s) s /= total;

  data.mean.assign(data.d, 0.0);
  data.scale.assign(data.d, 0.0);
  data.constant.assign(data.d, true);
  for (std::size_t j = 0; j < data.d; ++j) {
    // Constancy tested on the values, not on the variance, which rounding can
    // leave at 1e-30 for a constant column.
    double first = 0.0;
    bool seen = false;
    for (std::size_t i = 0; i < data.n; ++i) {
      if (data.s[i] == 0.0) continue;
      const double v = data.z[i * data.d + j];
      data.mean[j] += data.s[i] * v;
      if (!seen) first = v;
      if (seen && v != first) data.constant[j] = false;
      seen = true;
    }
    double var = 0.0;
    for (std::size_t i = 0; i < data.n; ++i) {
      const double dv = data.z[i * data.d + j] - data.mean[j];
      var += data.s[i] * dv * dv;
    }
    data.scale[j] = std::sqrt(var);
    if (!(data.scale[j] > 0.0)) data.constant[j] = true;
    for (std::size_t i = 0; i < data.n; ++i) {
      double& v = data.z[i * data.d + j];
      v = data.constant[j] ? 0.0 : (v - data.mean[j]) / data.scale[j];
    }
  }
  return data;
}

}  // namespace

double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);  // no overflow for x < 0
  return e / (1.0 + e);
}

double LogisticModel::log_odds(std::span<const double> x) const {
  if (x.size() != weights.size()) {
    throw UsageError("logistic model of " + std::to_string(weights.size()) + " features given " +
                     std::to_string(x.size()));
  }
  double sum = bias;
  for (std::size_t j = 0; j < x.size(); ++j) sum += weights[j] * x[j];
  return sum;
}

double LogisticModel::probability(std::span<const double> x) const { return sigmoid(log_odds(x)); }

nlohmann::json LogisticModel::to_json() const { return {{"weights", weights}, {"bias", bias}}; }

LogisticModel LogisticModel::from_json(const nlohmann::json& json) {
  const auto number = [](const nlohmann::json& v, const std::string& what) {
    if (!v.is_number()) {
      throw Error("logistic model JSON: " + what + " is " + v.type_name() + ", expected a number");
    }
    const auto x = v.get<double>();
    if (!std::isfinite(x)) throw Error("logistic model JSON: " + what + " is not finite");
    return x;
  };
  if (!json.is_object()) {
    throw Error(std::string("logistic model JSON: expected an object {\"weights\": [...], "
                            "\"bias\": b}, got ") +
                json.type_name());
  }
  const auto w = json.find("weights");
  if (w == json.end() || !w->is_array()) {
    throw Error("logistic model JSON: \"weights\" missing or not an array");
  }
  const auto b = json.find("bias");
  if (b == json.end()) throw Error("logistic model JSON: \"bias\" missing");
  LogisticModel model;
  for (std::size_t j = 0; j < w->size(); ++j) {
    model.weights.push_back(number((*w)[j], "weights[" + std::to_string(j) + "]"));
  }
  model.bias = number(*b, "\"bias\"");
  return model;
}

LogisticModel fit_logistic(const std::vector<std::vector<double>>& features,
                           const std::vector<int>& labels, const LogisticFitOptions& options) {
  const Data data = prepare(features, labels, options);
  Params p;
  p.w.assign(data.d, 0.0);
  double positive = 0.0;
  for (std::size_t i = 0; i < data.n; ++i) positive += data.s[i] * data.y[i];
  p.bias = std::log(positive / (1.0 - positive));  // the optimum while every weight is 0

  std::vector<bool> fixed = data.constant;  // features held at w = 0
  // Active set: each round fixes the feature with the most negative weight or
  // frees the fixed one whose gradient says it would help. Rounds are few (a
  // feature just fixed cannot be freed again at once, by convexity); the cap
  // only guards against a longer cycle that rounding might cause.
  const std::size_t max_rounds = 4 * data.d + 4;
  for (std::size_t round = 0; round < max_rounds; ++round) {
    std::vector<std::size_t> free;
    for (std::size_t j = 0; j < data.d; ++j) {
      if (!fixed[j]) free.push_back(j);
    }
    newton(data, free, options, p);
    if (!options.non_negative_weights) break;

    std::size_t worst = data.d;
    for (std::size_t j : free) {
      if (p.w[j] < 0.0 && (worst == data.d || p.w[j] < p.w[worst])) worst = j;
    }
    if (worst != data.d) {
      fixed[worst] = true;
      p.w[worst] = 0.0;
      continue;
    }
    // Optimality of the fixed ones (KKT): increasing w_j from 0 must not lower
    // the objective. sqrt(tolerance) is the gradient accuracy the stopping
    // rule leaves.
    double most_negative = -std::sqrt(options.tolerance);
    for (std::size_t j = 0; j < data.d; ++j) {
      if (!fixed[j] || data.constant[j]) continue;
      const double g = gradient(data, p, j);
      if (g < most_negative) {
        most_negative = g;
        worst = j;
      }
    }
    if (worst == data.d) break;
    fixed[worst] = false;
  }

  LogisticModel model;
  model.bias = p.bias;
  model.weights.assign(data.d, 0.0);
  for (std::size_t j = 0; j < data.d; ++j) {
    if (data.constant[j] || p.w[j] == 0.0) continue;
    model.weights[j] = p.w[j] / data.scale[j];
    model.bias -= model.weights[j] * data.mean[j];
  }
  return model;
}

LogisticModel fit_platt(std::span<const double> scores, std::span<const int> labels,
                        const LogisticFitOptions& options) {
  std::vector<std::vector<double>> features;
  features.reserve(scores.size());
  for (double s : scores) features.push_back({s});
  return fit_logistic(features, std::vector<int>(labels.begin(), labels.end()), options);
}

}  // namespace likeness::match
