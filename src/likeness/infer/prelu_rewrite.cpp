#include "likeness/infer/prelu_rewrite.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <vector>

namespace likeness::infer::internal {
namespace {

// --- Protocol buffer wire format, just enough to copy and edit messages ------

enum Wire : std::uint8_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

struct Field {
  std::uint32_t number = 0;
  Wire wire = kVarint;
  std::uint64_t value = 0;  // kVarint
  std::string bytes;        // kBytes, kFixed64, kFixed32: the payload
};

bool read_varint(std::string_view in, std::size_t& at, std::uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= in.size()) return false;
    const auto byte = static_cast<std::uint8_t>(in[at++]);
    out |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return true;
  }
  return false;
}

// All fields of a message, in order; nullopt for bytes that are not one.
std::optional<std::vector<Field>> parse(std::string_view in) {
  std::vector<Field> fields;
  std::size_t at = 0;
  while (at < in.size()) {
    std::uint64_t key = 0;
    if (!read_varint(in, at, key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
      return std::nullopt;
    Field f;
    f.number = static_cast<std::uint32_t>(key >> 3);
    f.wire = static_cast<Wire>(key & 7);
    std::uint64_t length = 0;
    switch (f.wire) {
      case kVarint:
        if (!read_varint(in, at, f.value)) return std::nullopt;
        break;
      case kFixed64:
      case kFixed32:
        length = f.wire == kFixed64 ? 8 : 4;
        if (in.size() - at < length) return std::nullopt;
        f.bytes.assign(in.substr(at, length));
        at += length;
        break;
      case kBytes:
        if (!read_varint(in, at, length) || in.size() - at < length) return std::nullopt;
        f.bytes.assign(in.substr(at, length));
        at += length;
        break;
      default:
        return std::nullopt;  // groups: not used by ONNX
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

void write_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

std::string serialize(const std::vector<Field>& fields) {
  std::string out;
  for (const Field& f : fields) {
    write_varint(out, (std::uint64_t{f.number} << 3) | f.wire);
    if (f.wire == kVarint) {
      write_varint(out, f.value);
    } else {
      if (f.wire == kBytes) write_varint(out, f.bytes.size());
      out += f.bytes;
    }
  }
  return out;
}

Field bytes_field(std::uint32_t number, std::string bytes) {
  return {.number = number, .wire = kBytes, .value = 0, .bytes = std::move(bytes)};
}

// --- The parts of ONNX's messages the rewrite looks at (onnx.proto numbers) ---

namespace model_field {
constexpr std::uint32_t kOpsetImport = 8, kGraph = 7;
}
namespace graph_field {
constexpr std::uint32_t kNode = 1, kInitializer = 5, kOutput = 12, kValueInfo = 13;
}
namespace node_field {
constexpr std::uint32_t kInput = 1, kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5,
                        kDomain = 7;
}

struct Node {
  std::vector<std::string> inputs, outputs;
  std::string name, op_type, domain;
  std::string attributes;  // the attribute fields' bytes, for comparing two nodes
  bool onnx_domain() const { return domain.empty() || domain == "ai.onnx"; }
};

std::optional<Node> parse_node(std::string_view bytes) {
  const auto fields = parse(bytes);
  if (!fields) return std::nullopt;
  Node node;
  for (const Field& f : *fields) {
    if (f.wire != kBytes) continue;
    switch (f.number) {
      case node_field::kInput:
        node.inputs.push_back(f.bytes);
        break;
      case node_field::kOutput:
        node.outputs.push_back(f.bytes);
        break;
      case node_field::kName:
        node.name = f.bytes;
        break;
      case node_field::kOpType:
        node.op_type = f.bytes;
        break;
      case node_field::kDomain:
        node.domain = f.bytes;
        break;
      case node_field::kAttribute:
        node.attributes += f.bytes;
        node.attributes += '\0';
        break;
      default:
        break;
    }
  }
  return node;
}

// The name and dimensions of a TensorProto; nullopt when its data lives in
// an external file (the rewritten model is loaded from memory, where a
// relative external path would not resolve).
struct Initializer {
  std::string name;
  std::vector<std::int64_t> dims;
};

std::optional<Initializer> parse_initializer(std::string_view bytes) {
  const auto fields = parse(bytes);
  if (!fields) return std::nullopt;
  Initializer init;
  for (const Field& f : *fields) {
    if (f.number == 1 && f.wire == kVarint) {
      init.dims.push_back(static_cast<std::int64_t>(f.value));
    } else if (f.number == 1 && f.wire == kBytes) {  // packed dims
      std::size_t at = 0;
      std::uint64_t v = 0;
      while (at < f.bytes.size()) {
        if (!read_varint(f.bytes, at, v)) return std::nullopt;
        init.dims.push_back(static_cast<std::int64_t>(v));
      }
    } else if (f.number == 8 && f.wire == kBytes) {
      init.name = f.bytes;
    } else if (f.number == 14 && f.wire == kVarint && f.value != 0) {
      return std::nullopt;  // data_location EXTERNAL
    }
  }
  return init;
}

// A per-channel slope: [C,1,1] or [1,C,1,1] (ONNX broadcasting puts both on
// the channel axis of an NCHW tensor).
bool per_channel(const Initializer& init) {
  const auto& d = init.dims;
  if (d.size() == 3) return d[0] >= 1 && d[1] == 1 && d[2] == 1;
  if (d.size() == 4) return d[0] == 1 && d[1] >= 1 && d[2] == 1 && d[3] == 1;
  return false;
}

std::string fast_prelu_node(const std::string& x, const std::string& slope, const std::string& y,
                            const std::string& name, float slope_scale, bool static_shapes) {
  std::vector<Field> attribute;
  attribute.push_back(bytes_field(1, "slope_scale"));
  std::string f(4, '\0');
  std::memcpy(f.data(), &slope_scale, 4);  // little-endian on every supported target
  attribute.push_back({.number = 2, .wire = kFixed32, .value = 0, .bytes = f});
  attribute.push_back({.number = 20, .wire = kVarint, .value = 1, .bytes = {}});  // FLOAT
  std::vector<Field> node;
  node.push_back(bytes_field(node_field::kInput, x));
  node.push_back(bytes_field(node_field::kInput, slope));
  node.push_back(bytes_field(node_field::kOutput, y));
  if (!name.empty()) node.push_back(bytes_field(node_field::kName, name));
  node.push_back(
      bytes_field(node_field::kOpType, static_shapes ? kFastPReluOp : kFastPReluDynamicOp));
  node.push_back(bytes_field(node_field::kAttribute, serialize(attribute)));
  node.push_back(bytes_field(node_field::kDomain, kFastOpDomain));
  return serialize(node);
}

}  // namespace

std::optional<PReluRewrite> rewrite_prelu(std::string_view model_bytes, bool static_shapes) {
  auto model = parse(model_bytes);
  if (!model) return std::nullopt;
  Field* graph_field = nullptr;
  for (Field& f : *model) {
    if (f.number == model_field::kGraph && f.wire == kBytes) {
      if (graph_field) return std::nullopt;
      graph_field = &f;
    }
  }
  if (!graph_field) return std::nullopt;
  auto graph = parse(graph_field->bytes);
  if (!graph) return std::nullopt;

  // Index the graph: nodes (by position in `graph`), producers, consumers.
  std::vector<std::size_t> node_at;  // field index of each node
  std::vector<Node> nodes;
  std::map<std::string, Initializer> initializers;
  std::set<std::string> graph_outputs;
  for (std::size_t i = 0; i < graph->size(); ++i) {
    const Field& f = (*graph)[i];
    if (f.wire != kBytes) continue;
    if (f.number == graph_field::kNode) {
      auto node = parse_node(f.bytes);
      if (!node) return std::nullopt;
      // Subgraphs see the outer graph's values by name: too much to track.
      if (node->op_type == "If" || node->op_type == "Loop" || node->op_type == "Scan") {
        return std::nullopt;
      }
      node_at.push_back(i);
      nodes.push_back(std::move(*node));
    } else if (f.number == graph_field::kInitializer) {
      auto init = parse_initializer(f.bytes);
      if (!init) return std::nullopt;
      initializers[init->name] = std::move(*init);
    } else if (f.number == graph_field::kOutput) {
      const auto info = parse(f.bytes);
      if (!info) return std::nullopt;
      for (const Field& g : *info) {
        if (g.number == 1 && g.wire == kBytes) graph_outputs.insert(g.bytes);
      }
    }
  }
  std::map<std::string, std::size_t> producer;
  std::map<std::string, int> uses;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    for (const auto& out : nodes[n].outputs) producer[out] = n;
    for (const auto& in : nodes[n].inputs) ++uses[in];
  }
  for (const auto& out : graph_outputs) ++uses[out];
  // The node producing `value` when it has that op, one output and no other use.
  const auto single_use = [&](const std::string& value,
                              std::string_view op) -> std::optional<std::size_t> {
    const auto p = producer.find(value);
    if (p == producer.end() || uses[value] != 1) return std::nullopt;
    const Node& node = nodes[p->second];
    if (node.op_type != op || !node.onnx_domain() || node.outputs.size() != 1) return std::nullopt;
    return p->second;
  };
  // Same computation: the same value, or two nodes with the same op, inputs
  // and attributes (mobilefacenet's converter duplicated convolutions).
  const auto same_value = [&](const std::string& a, const std::string& b) {
    if (a == b) return true;
    const auto pa = producer.find(a), pb = producer.find(b);
    if (pa == producer.end() || pb == producer.end()) return false;
    const Node& na = nodes[pa->second];
    const Node& nb = nodes[pb->second];
    return na.outputs.size() == 1 && nb.outputs.size() == 1 && na.op_type == nb.op_type &&
           na.domain == nb.domain && na.inputs == nb.inputs && na.attributes == nb.attributes;
  };
  const auto slope_ok = [&](const std::string& name) {
    const auto it = initializers.find(name);
    return it != initializers.end() && per_channel(it->second);
  };

  PReluRewrite result;
  std::set<std::size_t> removed;                // node indices
  std::map<std::size_t, std::string> replaced;  // node index -> new bytes
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    const Node& node = nodes[n];
    if (!node.onnx_domain() || node.outputs.size() != 1) continue;
    if (node.op_type == "PRelu" && node.inputs.size() == 2 && slope_ok(node.inputs[1])) {
      replaced[n] = fast_prelu_node(node.inputs[0], node.inputs[1], node.outputs[0], node.name,
                                    1.0f, static_shapes);
      ++result.fused;
      continue;
    }
    // relu(x) + (x - |x|) * c, either operand order of the Add and the Mul.
    if (node.op_type != "Add" || node.inputs.size() != 2) continue;
    for (int order = 0; order < 2; ++order) {
      const auto relu = single_use(node.inputs[order], "Relu");
      const auto mul = single_use(node.inputs[1 - order], "Mul");
      if (!relu || !mul || nodes[*mul].inputs.size() != 2) continue;
      std::optional<std::size_t> sub;
      std::string c;
      for (int m = 0; m < 2 && !sub; ++m) {
        sub = single_use(nodes[*mul].inputs[m], "Sub");
        c = nodes[*mul].inputs[1 - m];
      }
      if (!sub || !slope_ok(c) || nodes[*sub].inputs.size() != 2) continue;
      const auto abs = single_use(nodes[*sub].inputs[1], "Abs");
      if (!abs) continue;
      const std::string& x = nodes[*relu].inputs.at(0);
      if (!same_value(x, nodes[*sub].inputs[0]) || !same_value(x, nodes[*abs].inputs.at(0))) {
        continue;
      }
      replaced[n] = fast_prelu_node(x, c, node.outputs[0], node.name, 2.0f, static_shapes);
      removed.insert({*relu, *mul, *sub, *abs});
      ++result.fused;
      break;
    }
  }
  if (result.fused == 0) return std::nullopt;

  // Drop nodes nothing reads any more (the duplicated convolutions).
  std::set<std::string> dropped_values;
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, int> needed;
    for (std::size_t n = 0; n < nodes.size(); ++n) {
      if (removed.count(n)) continue;
      if (const auto r = replaced.find(n); r != replaced.end()) {
        // The fused node reads x and the slope.
        const auto fused = parse_node(r->second);
        for (const auto& in : fused->inputs) ++needed[in];
      } else {
        for (const auto& in : nodes[n].inputs) ++needed[in];
      }
    }
    for (const auto& out : graph_outputs) ++needed[out];
    for (std::size_t n = 0; n < nodes.size(); ++n) {
      if (removed.count(n) || nodes[n].outputs.empty()) continue;
      bool used = false;
      for (const auto& out : nodes[n].outputs) used = used || out.empty() || needed.count(out);
      if (!used) {
        removed.insert(n);
        changed = true;
      }
    }
  }
  for (std::size_t n : removed) {
    for (const auto& out : nodes[n].outputs) dropped_values.insert(out);
  }
  result.removed = static_cast<int>(removed.size());

  std::set<std::size_t> removed_fields;
  for (std::size_t n : removed) removed_fields.insert(node_at[n]);
  for (const auto& [n, bytes] : replaced) (*graph)[node_at[n]].bytes = bytes;
  std::vector<Field> new_graph;
  for (std::size_t i = 0; i < graph->size(); ++i) {
    if (removed_fields.count(i)) continue;
    Field& f = (*graph)[i];
    if (f.number == graph_field::kValueInfo && f.wire == kBytes) {
      // Shapes recorded for values that no longer exist.
      const auto info = parse(f.bytes);
      bool dropped = false;
      for (const Field& g : info.value_or(std::vector<Field>{})) {
        if (g.number == 1 && g.wire == kBytes && dropped_values.count(g.bytes)) dropped = true;
      }
      if (dropped) continue;
    }
    new_graph.push_back(std::move(f));
  }
  graph_field->bytes = serialize(new_graph);

  // Declare the domain (opset_import { domain, version 1 }).
  std::vector<Field> opset;
  opset.push_back(bytes_field(1, kFastOpDomain));
  opset.push_back({.number = 2, .wire = kVarint, .value = 1, .bytes = {}});
  model->push_back(bytes_field(model_field::kOpsetImport, serialize(opset)));
  result.model = serialize(*model);
  return result;
}

}  // namespace likeness::infer::internal
