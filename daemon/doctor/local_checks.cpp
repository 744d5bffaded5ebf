// SPDX-License-Identifier: MIT
// `pnsyncd --doctor`, this host: each dest (writable, room, private) and the state directory.
#include "daemon/doctor/doctor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/progress.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/doctor/check_support.hpp"
#include "store/store.hpp"

namespace pnsync::doctor {

namespace {

using namespace detail;

// How many entries below dest check_dest_private() looks at: enough to catch a tree copied with
// the wrong modes, few enough to finish at once on MIMIC-CXR's 600,000 files.
constexpr int kSampledEntries = 2000;

// The path itself if it exists, else its nearest existing parent (pnsyncd creates the rest).
std::filesystem::path nearest_existing(const std::filesystem::path& path) {
  std::filesystem::path at = path;
  struct stat st {};
  while (::stat(at.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR) &&
         at.has_relative_path())
    at = at.parent_path();
  return at;
}

// Creates and removes a file in `dir`; the error, if any, names dir.
std::optional<std::string> write_probe(const std::filesystem::path& dir) {
  std::string name = (dir / ".pnsync-doctor-XXXXXX").string();
  const UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) return "cannot create a file in " + dir.string() + ": " + std::strerror(errno);
  ::unlink(name.c_str());
  return std::nullopt;
}

// --- dest privacy ------------------------------------------------------------------------------

// The first existing parent of `dest` (from / down) that others cannot pass through (no o+x),
// with its mode; nullopt when every one lets them through.
std::optional<std::pair<std::filesystem::path, mode_t>> closed_parent(
    const std::filesystem::path& dest) {
  std::filesystem::path at;
  for (const auto& part : dest.parent_path()) {
    at /= part;
    struct stat st {};
    if (::stat(at.c_str(), &st) != 0) break;  // missing from here on: pnsyncd creates them
    if ((st.st_mode & S_IXOTH) == 0) return std::pair{at, st.st_mode};
  }
  return std::nullopt;
}

struct OpenEntries {
  int count = 0;
  int sampled = 0;
  std::filesystem::path example;
  mode_t example_mode = 0;
};

// Files others may read (o+r) among the first entries below dest.
OpenEntries sample_open_entries(const std::filesystem::path& dest) {
  namespace fs = std::filesystem;
  OpenEntries found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dest, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator() && found.sampled < kSampledEntries;
       it.increment(ec)) {
    if (it.depth() == 0 && it->path().filename() == kPartialDirName) {
      it.disable_recursion_pending();  // partial files are 0600 and not data yet
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode)) continue;
    ++found.sampled;
    if ((st.st_mode & S_IROTH) == 0) continue;
    if (found.count++ == 0) {
      found.example = it->path();
      found.example_mode = st.st_mode;
    }
  }
  return found;
}

// A reason to warn, and what to do about it.
struct Finding {
  std::string problem;
  std::string fix;
};

std::string joined_problems(const std::vector<Finding>& findings) {
  std::string text;
  for (const Finding& f : findings) text += (text.empty() ? "" : "; ") + f.problem;
  return text;
}

std::string joined_fixes(const std::vector<Finding>& findings) {
  std::string text;
  for (const Finding& f : findings) text += (text.empty() ? "" : "; ") + f.fix;
  return text;
}

// dest itself open to others (o+r or o+x), with a sample of the files below it they may read.
// Only meaningful when no parent keeps them out.
std::optional<Finding> open_dest(const std::filesystem::path& dest) {
  struct stat st {};
  if (::stat(dest.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      (st.st_mode & (S_IROTH | S_IXOTH)) == 0)
    return std::nullopt;
  std::string problem = dest.string() + " is mode " + octal(st.st_mode) +
                        " and every parent lets others through: anyone with an account here "
                        "can reach the data";
  const OpenEntries open = sample_open_entries(dest);
  if (open.count > 0)
    problem += "; " + std::to_string(open.count) + " of " + std::to_string(open.sampled) +
               " files sampled below it are readable by others too (e.g. " + open.example.string() +
               ", mode " + octal(open.example_mode) + ")";
  return Finding{problem, "chmod -R o-rwx " + dest.string() +
                              " (the data use agreement forbids sharing the data with anyone "
                              "who has not signed it)"};
}

// --- state_dir -----------------------------------------------------------------------------------

struct FilesystemType {
  std::uint32_t magic;
  std::string_view name;
};

// statfs(2) f_type values of file systems whose byte-range locks SQLite cannot rely on
// (https://www.sqlite.org/lockingv3.html#how_to_corrupt, "file locking problems").
constexpr std::array kNetworkFilesystems = {
    FilesystemType{0x00006969, "NFS"},        FilesystemType{0x0000517B, "SMB"},
    FilesystemType{0xFF534D42, "CIFS"},       FilesystemType{0xFE534D42, "SMB2"},
    FilesystemType{0x00C36400, "Ceph"},       FilesystemType{0x65735546, "FUSE"},
    FilesystemType{0x0BD00BD0, "Lustre"},     FilesystemType{0x5346414F, "AFS"},
    FilesystemType{0x6B414653, "AFS (kAFS)"}, FilesystemType{0x01021997, "9p"},
};

// Opens the state database (as pnsyncd does at start) when it exists, and runs SQLite's
// quick_check over it: a page damaged where pnsyncd has yet to read would otherwise surface
// mid-pass. quick_check reads every page once (seconds for MIMIC-CXR's 400,000 files) but skips
// comparing indexes with their tables, which integrity_check adds at several times the cost.
// The error names the file.
std::optional<std::string> open_problem(const std::filesystem::path& db) {
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return std::nullopt;
  try {
    store::Store store(db);
    if (auto problem = store.integrity_problem(store::Store::Check::Quick))
      return db.string() + " is damaged (PRAGMA quick_check: " + *problem + ")";
  } catch (const store::StoreError& error) {
    return error.what();
  }
  return std::nullopt;
}

}  // namespace

// --- 6: dest -------------------------------------------------------------------------------------

CheckResult check_dest_writable(const config::Mirror& mirror,
                                std::optional<std::int64_t> bytes_to_fetch) {
  const std::string name = "dest " + mirror.name();
  const std::filesystem::path existing = nearest_existing(mirror.dest);
  const std::string place = where(mirror.dest, existing);
  const std::string permission_fix =
      "let pnsyncd's user create files in " + existing.string() +
      " (e.g. install -d -m 2750 -o pnsync -g GROUP " + mirror.dest.string() +
      "); under systemd it must also lie under a ReadWritePaths= entry (docs/operations.md, "
      "The mirror root)";
  struct stat st {};
  if (::stat(existing.c_str(), &st) != 0)
    return fail(name, "cannot examine " + existing.string() + ": " + std::strerror(errno),
                permission_fix);
  if (!S_ISDIR(st.st_mode))
    return fail(
        name, place + ": " + existing.string() + " is not a directory",
        "choose a dest whose parents are directories, or move " + existing.string() + " away");
  if (auto problem = write_probe(existing))
    return fail(name, place + ": " + *problem, permission_fix);

  struct statvfs vfs {};
  if (::statvfs(existing.c_str(), &vfs) != 0)
    return fail(name,
                "cannot read the free space of " + existing.string() + ": " + std::strerror(errno),
                "check the file system of " + existing.string());
  const auto free_bytes =
      static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
  const std::string free_text = format_bytes(free_bytes) + " free";
  if (!bytes_to_fetch)
    return ok(name, place + " is writable; " + free_text +
                        " (the total is known after the first complete listing)");
  const std::string need_text = format_bytes(*bytes_to_fetch) + " still to fetch";
  if (*bytes_to_fetch > free_bytes)
    return fail(name, place + ": " + free_text + ", but " + need_text,
                "free " + format_bytes(*bytes_to_fetch - free_bytes) + " on the file system of " +
                    existing.string() + ", or move dest to a larger one");
  return ok(name, place + " is writable; " + free_text + ", " + need_text);
}

CheckResult check_dest_private(const config::Config& config, const config::Mirror& mirror) {
  const std::string name = "privacy " + mirror.name();
  const std::filesystem::path& dest = mirror.dest;
  std::vector<Finding> findings;
  const auto closed = closed_parent(dest);
  if (!closed)
    if (auto finding = open_dest(dest)) findings.push_back(std::move(*finding));
  if (!findings.empty()) return warn(name, joined_problems(findings), joined_fixes(findings));
  if (closed)
    return ok(name, "others cannot reach " + dest.string() + ": " + closed->first.string() +
                        " is mode " + octal(closed->second));
  struct stat st {};
  if (::stat(dest.c_str(), &st) == 0)
    return ok(name, dest.string() + " is mode " + octal(st.st_mode) + ": closed to others");
  return ok(name, dest.string() + " will be created with dir_mode " + octal(config.dir_mode));
}

std::optional<std::int64_t> bytes_to_fetch(const std::filesystem::path& state_dir,
                                           const config::Mirror& mirror) {
  const std::filesystem::path db = state_dir / "state.db";
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return std::nullopt;
  try {
    store::Store store(db);
    const auto id = store.find_mirror(mirror.name());
    if (!id || !store.crawl_completed_at(*id)) return std::nullopt;
    const store::MirrorCounts counts = store.counts(*id);
    return std::max<std::int64_t>(0, counts.bytes_total - counts.bytes_verified);
  } catch (const store::StoreError&) {
    return std::nullopt;  // check_state_dir reports it
  }
}

// --- 7: state_dir --------------------------------------------------------------------------------

std::optional<std::string_view> network_filesystem(std::int64_t f_type) {
  const auto magic = static_cast<std::uint32_t>(f_type);
  for (const FilesystemType& fs : kNetworkFilesystems)
    if (fs.magic == magic) return fs.name;
  return std::nullopt;
}

CheckResult check_state_dir(const config::Config& config) {
  const std::filesystem::path& dir = config.state_dir;
  const std::filesystem::path existing = nearest_existing(dir);
  const std::string place = where(dir, existing);
  struct stat st {};
  if (::stat(existing.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail("state_dir", place + ": " + existing.string() + " is not a directory",
                "set state_dir " + in_file(config) + " to a directory on a local disk");
  if (auto problem = write_probe(existing))
    return fail("state_dir", place + ": " + *problem,
                "let pnsyncd's user write " + existing.string() +
                    " (the packaged unit's StateDirectory= makes /var/lib/pnsync for it)");
  struct statfs fs {};
  if (::statfs(existing.c_str(), &fs) != 0)
    return fail(
        "state_dir",
        "cannot read the file system type of " + existing.string() + ": " + std::strerror(errno),
        "check " + existing.string());
  if (const auto network = network_filesystem(static_cast<std::int64_t>(fs.f_type)))
    return fail("state_dir",
                place + " is on " + std::string(*network) +
                    ", a network file system: SQLite's locking is unreliable there, so state.db "
                    "could be corrupted",
                "set state_dir " + in_file(config) +
                    " to a directory on a local disk (dest may stay on the shared storage)");
  if (auto problem = open_problem(dir / "state.db"))
    return fail("state_dir", *problem,
                "move " + (dir / "state.db").string() +
                    " aside (or restore a backup); pnsyncd then starts a new one and adopts the "
                    "files already under each dest by hashing them");
  std::error_code ec;
  const bool has_db = std::filesystem::exists(dir / "state.db", ec);
  return ok("state_dir", place + " is writable, on a local file system" +
                             (has_db ? "; state.db passes quick_check" : ""));
}

}  // namespace pnsync::doctor
