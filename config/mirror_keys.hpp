// SPDX-License-Identifier: MIT
// The `mirrors:` list of the config file. Internal to config/.
#pragma once

#include <vector>

#include "config/yaml_keys.hpp"

namespace pnsync::config::keys {

// Parses `mirrors:` into `mirrors` and, for each, the line of its dest key (for checks that
// involve other keys); two mirrors must differ by name and by a dest that does not nest.
void parse_mirrors(const Item& item, std::vector<Mirror>& mirrors,
                   std::vector<YAML::Mark>& dest_marks);

}  // namespace pnsync::config::keys
