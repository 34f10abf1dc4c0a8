//! Request parameters: Stripe's bracket-notation form encoding (`a[b][0][c]=v`, `expand[]=x`) parsed into JSON.

use serde_json::{Map, Value};

use crate::api_error::ApiError;

/// The parameters of one request, as nested JSON: objects for `[key]`, arrays for `[]` and `[0]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body or query string.
    pub fn parse(raw: &[u8]) -> Params {
        let mut root = Value::Object(Map::new());
        for (key, value) in form_urlencoded::parse(raw) {
            let path = split_key(&key);
            insert(&mut root, &path, Value::String(value.into_owned()));
        }
        let root = arrays_from_indexes(root);
        match root {
            Value::Object(map) => Params(map),
            _ => Params::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A string parameter; an empty string counts as absent, as Stripe treats `param=` as unset.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn required_str(&self, key: &str) -> Result<&str, ApiError> {
        self.str(key).ok_or_else(|| ApiError::missing(key))
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, ApiError> {
        value_i64(self.0.get(key), key)
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        value_bool(self.0.get(key), key)
    }

    /// The `expand[]` list.
    pub fn expand(&self) -> Vec<String> {
        match self.0.get("expand") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// A nested object parameter (`metadata[k]=v`).
    pub fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.0.get(key).and_then(Value::as_object)
    }

    /// A list parameter (`line_items[0][price]=…`).
    pub fn array(&self, key: &str) -> Vec<Value> {
        match self.0.get(key) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        }
    }

    /// A stable fingerprint of the parameters, for idempotency comparisons.
    pub fn fingerprint(&self) -> String {
        // serde_json's Map keeps keys sorted (no preserve_order feature), so this is canonical.
        Value::Object(self.0.clone()).to_string()
    }
}

pub fn value_i64(value: Option<&Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(key, format!("Invalid integer: {s}"))),
        Some(Value::Number(n)) => Ok(n.as_i64()),
        Some(_) => Err(ApiError::invalid(key, format!("Invalid integer for {key}"))),
    }
}

pub fn value_bool(value: Option<&Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match value.and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(key, format!("Invalid boolean: {other}"))),
    }
}

/// Metadata from `metadata[k]=v`; an empty value deletes the key, as in Stripe.
pub fn merge_metadata(target: &mut Value, update: Option<&Map<String, Value>>) {
    let Some(update) = update else { return };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Some(map) = target.as_object_mut() {
        for (k, v) in update {
            match v.as_str() {
                Some("") => {
                    map.remove(k);
                }
                Some(s) => {
                    map.insert(k.clone(), Value::String(s.to_owned()));
                }
                None => {}
            }
        }
    }
}

fn split_key(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    parts.push(head.to_owned());
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(end) => {
                parts.push(stripped[..end].to_owned());
                rest = &stripped[end + 1..];
            }
            None => break,
        }
    }
    parts
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    if head.is_empty() {
        // `x[]`: append to an array.
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        if let Value::Array(items) = node {
            if rest.is_empty() {
                items.push(value);
            } else {
                let mut child = Value::Object(Map::new());
                insert(&mut child, rest, value);
                items.push(child);
            }
        }
        return;
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        if rest.is_empty() {
            map.insert(head.clone(), value);
        } else {
            let child = map
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            insert(child, rest, value);
        }
    }
}

/// `items[0][price]` arrives as an object keyed "0", "1", …; Stripe treats it as a list.
fn arrays_from_indexes(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let all_indexes =
                !map.is_empty() && map.keys().all(|k| k.chars().all(|c| c.is_ascii_digit()));
            if all_indexes {
                let mut entries: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k.parse::<usize>().unwrap_or(usize::MAX),
                            arrays_from_indexes(v),
                        )
                    })
                    .collect();
                entries.sort_by_key(|(i, _)| *i);
                Value::Array(entries.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| {
                            // Metadata keys are free-form; never turn them into a list.
                            if k == "metadata" {
                                (k, v)
                            } else {
                                (k, arrays_from_indexes(v))
                            }
                        })
                        .collect(),
                )
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(arrays_from_indexes).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bracket_notation_becomes_nested_objects_and_lists() {
        let p = Params::parse(
            b"line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price]=price_2&metadata[userId]=42&expand[]=customer&expand[]=subscription&subscription_data[metadata][plan]=pro",
        );
        assert_eq!(
            Value::Object(p.0),
            json!({
                "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
                "metadata": {"userId": "42"},
                "expand": ["customer", "subscription"],
                "subscription_data": {"metadata": {"plan": "pro"}}
            })
        );
    }

    #[test]
    fn numeric_metadata_keys_stay_an_object() {
        let p = Params::parse(b"metadata[0]=a");
        assert_eq!(p.object("metadata").map(|m| m.len()), Some(1));
    }

    #[test]
    fn empty_metadata_value_removes_the_key() {
        let mut target = json!({"a": "1", "b": "2"});
        let p = Params::parse(b"metadata[a]=&metadata[c]=3");
        merge_metadata(&mut target, p.object("metadata"));
        assert_eq!(target, json!({"b": "2", "c": "3"}));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 3000, failure_persistence: None, ..Default::default() })]

        /// Any body a client sends decodes to some parameters, whatever its brackets, indices
        /// (`a[99999999999]`, `a[-1]`, `a[0][x]=1&a[0]=2`) or percent-escapes: never a panic.
        #[test]
        fn any_form_body_decodes_without_a_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let p = Params::parse(&raw);
            let _ = (p.expand(), p.fingerprint(), p.i64("amount"), p.bool("livemode"));
        }

        #[test]
        fn bracket_shaped_bodies_decode_without_a_panic(
            pairs in proptest::collection::vec(("[a-z]{1,3}(\\[([0-9]{0,12}|-1|[a-z]{0,3})\\]){0,4}", "[%0-9A-Za-z=&+\\[\\]]{0,8}"), 0..8)
        ) {
            let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let p = Params::parse(raw.join("&").as_bytes());
            let _ = (p.expand(), p.array("a"), p.object("a"));
        }
    }
}
