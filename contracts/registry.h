// Controller bundles and the registry that says which version of each
// controller is active.
//
// A bundle is one controller directory (DESIGN.md "Surfaces"): the contract
// (<snake>.contract.yaml|.json or contract.yaml) and the Python entry
// (<snake>.py or controller.py) plus any other .py modules beside it.
// LoadBundle() checks the contract, compiles its schemas and digests the
// whole bundle; a bad bundle is E4001 with the findings in details.
//
// Registry is the interface the gateway and workers look versions up
// through. DirectoryRegistry serves the bundles found under a directory
// (one version per controller) until the control plane's PostgreSQL-backed
// registry implements the same interface.
#pragma once

#include "contracts/contract.h"
#include "contracts/schema.h"

#include <absl/status/statusor.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace magic::contracts {

struct BundleFile {
  std::string path;     // relative to the bundle root, '/'-separated
  std::string content;  // bytes
};

// An immutable, loaded controller version. Shared between threads.
struct ControllerVersion {
  std::shared_ptr<const CompiledContract> compiled;
  std::string bundle_dir;         // absolute path of the bundle on this host
  std::string entry;              // entry module file, e.g. "invoice_sync.py"
  std::vector<BundleFile> files;  // the contract and every .py file, sorted by path
  // Hex SHA-256 over every file's path and content: the warm-pool key.
  std::string digest;

  const Contract& contract() const { return compiled->contract(); }
  const std::string& name() const { return contract().name; }
  const std::string& version() const { return contract().version; }
};

// Loads and checks the bundle in `dir`. E4001 (details: findings) when the
// contract is invalid, the entry module is missing, or the bundle is larger
// than `max_bytes` in total.
absl::StatusOr<std::shared_ptr<const ControllerVersion>> LoadBundle(const std::string& dir,
                                                                    int64_t max_bytes = int64_t{8}
                                                                                        << 20);

// Checks an in-memory bundle (what `magic deploy` sends) exactly as
// LoadBundle checks a directory: the one contract file at the top level
// (<snake>.contract.yaml|.yml|.json, else contract.yaml|.yml|.json), the
// entry module, the contract's checks and schemas, the digest. Besides the
// contract only .py files are allowed; paths must be relative, without
// "..", hidden or __pycache__ parts; at most 256 files and `max_bytes` in
// all. E4001 (details: findings, file) otherwise. `origin` names the bundle
// in messages (a directory or "deploy"); it becomes bundle_dir.
absl::StatusOr<std::shared_ptr<const ControllerVersion>> LoadBundleFromFiles(
    std::vector<BundleFile> files, const std::string& origin, int64_t max_bytes = int64_t{8} << 20);

class Registry {
 public:
  virtual ~Registry() = default;
  // The active version of `name`; E4003 if there is none.
  virtual absl::StatusOr<std::shared_ptr<const ControllerVersion>> Active(
      std::string_view name) const = 0;
  // A specific version; E4003 if unknown.
  virtual absl::StatusOr<std::shared_ptr<const ControllerVersion>> Get(
      std::string_view name, std::string_view version) const = 0;
  // Names of all controllers with an active version, sorted.
  virtual std::vector<std::string> List() const = 0;
};

// Every bundle directly or recursively under `root` (a directory holding a
// contract file is a bundle). Fails with E4001 on the first bad bundle, or
// when two bundles declare the same controller name. Immutable after load:
// thread-safe.
absl::StatusOr<std::unique_ptr<Registry>> LoadDirectoryRegistry(const std::string& root);

}  // namespace magic::contracts
