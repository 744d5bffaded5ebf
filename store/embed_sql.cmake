# SPDX-License-Identifier: MIT
# Turns INPUT (a .sql file) into OUTPUT, a header defining pnsync::store::kSchemaSql.
file(READ ${INPUT} sql)
file(WRITE ${OUTPUT} "// Generated from store/schema.sql; do not edit.\n#pragma once\n"
     "namespace pnsync::store {\ninline constexpr const char kSchemaSql[] = R\"pnsync_sql(${sql})pnsync_sql\";\n}\n")
