package sqlscope

// The allowlists below name built-in functions that read only their
// arguments (and at most the clock or a random source): no I/O, no
// catalogue or settings access, no locks, no sequence or session state
// changes, no sleeping. A query calling anything else is refused by name;
// a function missing from a list costs a refusal, a wrong entry could cost
// a grant broader than approved, so entries are added only with that
// certainty.

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// pgFunctions are PostgreSQL built-ins (pg_catalog) known to be free of
// side effects. Names are as the parser gives them, including the
// pg_catalog functions that SQL-standard syntax is rewritten to
// (EXTRACT → extract, SUBSTRING(x FROM y) → substring, TRIM → btrim,
// POSITION → position, OVERLAY → overlay, AT TIME ZONE → timezone).
var pgFunctions = set(
	// aggregates
	"count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every",
	"string_agg", "array_agg", "json_agg", "jsonb_agg", "json_object_agg",
	"jsonb_object_agg", "stddev", "stddev_pop", "stddev_samp", "variance",
	"var_pop", "var_samp", "bit_and", "bit_or", "bit_xor", "corr", "covar_pop",
	"covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
	"regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
	"percentile_cont", "percentile_disc", "mode",
	// window functions
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
	"lag", "lead", "first_value", "last_value", "nth_value",
	// conditional (COALESCE, NULLIF, GREATEST and LEAST are syntax, not
	// functions, and never reach the allowlist)
	"num_nulls", "num_nonnulls",
	// strings
	"lower", "upper", "initcap", "length", "char_length", "character_length",
	"octet_length", "bit_length", "concat", "concat_ws", "substring", "substr",
	"btrim", "ltrim", "rtrim", "lpad", "rpad", "replace", "reverse",
	"left", "right", "position", "strpos", "split_part", "repeat",
	"starts_with", "format", "md5", "sha224", "sha256", "sha384", "sha512",
	"encode", "decode", "to_hex", "ascii", "chr", "regexp_replace",
	"regexp_match", "regexp_matches", "regexp_like", "regexp_count",
	"regexp_instr", "regexp_substr", "regexp_split_to_array",
	"regexp_split_to_table", "translate", "quote_literal", "quote_ident",
	"quote_nullable", "overlay", "string_to_array", "array_to_string",
	"string_to_table", "unistr", "normalize", "is_normalized", "like_escape",
	"similar_escape", "similar_to_escape", "convert_from", "convert_to",
	// numbers
	"abs", "ceil", "ceiling", "floor", "round", "trunc", "sign", "sqrt", "cbrt",
	"power", "pow", "exp", "ln", "log", "log10", "mod", "div", "pi", "degrees",
	"radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot",
	"sind", "cosd", "tand", "asind", "acosd", "atand", "atan2d", "sinh", "cosh",
	"tanh", "width_bucket", "gcd", "lcm", "factorial", "scale", "min_scale",
	"trim_scale", "random",
	// date and time
	"now", "clock_timestamp", "statement_timestamp",
	"transaction_timestamp", "timeofday", "date_trunc", "date_part", "extract",
	"date_bin", "age", "make_date", "make_time", "make_timestamp",
	"make_timestamptz", "make_interval", "to_char", "to_date", "to_timestamp",
	"to_number", "justify_days", "justify_hours", "justify_interval",
	"isfinite", "timezone",
	// JSON
	"to_json", "to_jsonb", "array_to_json", "row_to_json", "json_build_array",
	"jsonb_build_array", "json_build_object", "jsonb_build_object",
	"json_object", "jsonb_object", "json_array_length", "jsonb_array_length",
	"json_extract_path", "jsonb_extract_path", "json_extract_path_text",
	"jsonb_extract_path_text", "json_typeof", "jsonb_typeof",
	"json_array_elements", "jsonb_array_elements", "json_array_elements_text",
	"jsonb_array_elements_text", "json_each", "jsonb_each", "json_each_text",
	"jsonb_each_text", "json_object_keys", "jsonb_object_keys",
	"json_strip_nulls", "jsonb_strip_nulls", "jsonb_set", "jsonb_set_lax",
	"jsonb_insert", "jsonb_pretty", "jsonb_path_exists", "jsonb_path_match",
	"jsonb_path_query", "jsonb_path_query_array", "jsonb_path_query_first",
	"json_populate_record", "jsonb_populate_record", "json_to_record",
	"jsonb_to_record", "json_to_recordset", "jsonb_to_recordset",
	// arrays and sets
	"array_length", "array_upper", "array_lower", "array_ndims", "array_dims",
	"cardinality", "unnest", "array_append", "array_prepend", "array_cat",
	"array_position", "array_positions", "array_remove", "array_replace",
	"array_fill", "trim_array",
	"generate_series", "generate_subscripts",
	// misc
	"gen_random_uuid", "pg_typeof",
	"host", "masklen", "netmask", "network", "family", "abbrev", "broadcast",
	"inet_same_family", "to_tsvector", "to_tsquery", "plainto_tsquery",
	"phraseto_tsquery", "websearch_to_tsquery", "ts_rank", "ts_rank_cd",
	"ts_headline", "setweight", "strip", "numnode", "querytree",
	// function-style casts
	"date", "time", "timestamp", "timestamptz", "interval", "text", "numeric",
	"int2", "int4", "int8", "float4", "float8", "bool", "varchar", "bpchar",
)

// pgTypes are PostgreSQL built-in types a cast may name without a
// schema. The parser already qualifies SQL-standard type names (INT,
// VARCHAR, TIMESTAMP, ...) with pg_catalog; those are accepted as
// built-ins. A cast to any other type could run a user-defined cast
// function or domain check and is refused.
var pgTypes = set(
	"text", "varchar", "char", "bpchar", "name", "int2", "int4", "int8",
	"float4", "float8", "numeric", "bool", "date", "time", "timetz", "timestamp",
	"timestamptz", "interval", "uuid", "json", "jsonb", "jsonpath", "bytea",
	"inet", "cidr", "macaddr", "macaddr8", "money", "bit", "varbit", "point",
	"line", "lseg", "box", "path", "polygon", "circle", "tsvector", "tsquery",
	"int4range", "int8range", "numrange", "tsrange", "tstzrange", "daterange",
	"int4multirange", "int8multirange", "nummultirange", "tsmultirange",
	"tstzmultirange", "datemultirange", "oid", "xid", "record",
)

// pgOperators are the operator symbols of PostgreSQL's built-in types.
// Operators are functions too; a symbol outside this list (a custom
// operator) is refused, as is any operator qualified with a schema other
// than pg_catalog (OPERATOR(s.+)).
var pgOperators = set(
	"=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "||",
	"~~", "!~~", "~~*", "!~~*", "~", "!~", "~*", "!~*", "@>", "<@", "&&", "->",
	"->>", "#>", "#>>", "?", "?|", "?&", "#-", "@?", "@@", "|", "&", "#", "<<",
	">>", "<<=", ">>=", "-|-", "&<", "&>", "<->", "|/", "||/", "@", "!!",
	"<^", ">^", "?#", "?-", "?|", "?-|", "?||", "@-@", "##", "~=", "&<|", "|&>",
	"<<|", "|>>",
)

// mysqlFunctions are MySQL/MariaDB built-ins known to be free of side
// effects, by the lower-case name the parser gives. SQL syntax such as
// `x + INTERVAL 1 DAY`, TRIM(LEADING ...) and EXTRACT(...) is parsed into
// calls of these names.
var mysqlFunctions = set(
	// aggregates
	"count", "sum", "avg", "min", "max", "group_concat", "bit_and", "bit_or",
	"bit_xor", "std", "stddev", "stddev_pop", "stddev_samp", "var_pop",
	"var_samp", "variance", "json_arrayagg", "json_objectagg",
	// window functions
	"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
	"lag", "lead", "first_value", "last_value", "nth_value",
	// control flow
	"coalesce", "ifnull", "nullif", "if", "isnull", "greatest", "least",
	"interval",
	// strings
	"lower", "lcase", "upper", "ucase", "length", "char_length",
	"character_length", "octet_length", "bit_length", "concat", "concat_ws",
	"substring", "substr", "substring_index", "mid", "trim", "ltrim", "rtrim",
	"lpad", "rpad", "replace", "reverse", "left", "right", "locate", "instr",
	"position", "repeat", "space", "ascii", "ord", "char", "hex", "unhex", "md5",
	"sha", "sha1", "sha2", "format", "field", "find_in_set", "elt", "strcmp",
	"insert", "quote", "soundex", "regexp_replace",
	"regexp_substr", "regexp_instr", "to_base64", "from_base64", "bin", "oct",
	"conv", "crc32", "export_set", "make_set", "weight_string", "convert",
	"charset", "collation", "coercibility",
	// numbers
	"abs", "ceil", "ceiling", "floor", "round", "truncate", "sign", "sqrt",
	"pow", "power", "exp", "ln", "log", "log2", "log10", "mod", "pi", "rand",
	"degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
	"cot",
	// date and time
	"now", "current_date", "curdate", "current_time", "curtime",
	"current_timestamp", "localtime", "localtimestamp", "sysdate", "utc_date",
	"utc_time", "utc_timestamp", "date", "time", "timestamp", "year", "month",
	"day", "dayofmonth", "dayofweek", "dayofyear", "dayname", "monthname",
	"hour", "minute", "second", "microsecond", "week", "weekday", "weekofyear",
	"yearweek", "quarter", "date_add", "date_sub", "adddate", "subdate",
	"addtime", "subtime", "datediff", "timediff", "timestampdiff",
	"timestampadd", "date_format", "time_format", "str_to_date",
	"from_unixtime", "unix_timestamp", "extract", "last_day", "makedate",
	"maketime", "to_days", "from_days", "to_seconds", "sec_to_time",
	"time_to_sec", "period_add", "period_diff", "convert_tz", "get_format",
	// JSON
	"json_extract", "json_unquote", "json_object", "json_array",
	"json_contains", "json_contains_path", "json_keys", "json_length",
	"json_type", "json_valid", "json_set", "json_insert", "json_replace",
	"json_remove", "json_merge_patch", "json_merge_preserve", "json_merge",
	"json_quote", "json_search", "json_depth", "json_overlaps", "json_value",
	"json_pretty", "json_array_append", "json_array_insert",
	// misc
	"uuid", "inet_aton", "inet_ntoa", "inet6_aton", "inet6_ntoa", "is_ipv4",
	"is_ipv6",
)
