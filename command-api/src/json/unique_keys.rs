//! JSON parsed into a [`Value`] that refuses an object repeating a key, at any depth, instead of
//! letting the last occurrence win (`{"quantity":1,"quantity":1000000}` is ambiguous: a proxy or
//! a log may read the first one while we would act on the second).

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a body is not an acceptable JSON value.
#[derive(Debug)]
pub(crate) enum Invalid {
    /// It is not JSON at all.
    Syntax(serde_json::Error),
    /// An object repeats a key; the path of that key, e.g. `lines[0].quantity`.
    DuplicateKey(String),
}

/// Parses `bytes` as one JSON value, refusing any object that repeats a key.
pub(crate) fn from_slice(bytes: &[u8]) -> Result<Value, Invalid> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = ValueSeed {
        path: &Path::Root,
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, duplicate.into_inner()) {
        (_, Some(path)) => Err(Invalid::DuplicateKey(path)),
        (Ok(value), None) => Ok(value),
        (Err(error), None) => Err(Invalid::Syntax(error)),
    }
}

/// Where a value sits in the document, as a chain of parents (built only for errors).
enum Path<'a> {
    Root,
    Key(&'a str, &'a Path<'a>),
    Index(usize, &'a Path<'a>),
}

impl fmt::Display for Path<'_> {
    /// The `serde_path_to_error` notation: keys joined by `.`, array indexes in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Key(key, Self::Root) => f.write_str(key),
            Self::Key(key, parent) => write!(f, "{parent}.{key}"),
            Self::Index(index, parent) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// Deserializes one value at `path`, recording the first repeated key in `duplicate`.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    path: &'a Path<'a>,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // As serde_json's own `Value` does: a float JSON cannot hold becomes null.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed {
            path: &Path::Index(items.len(), self.path),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = Path::Key(&key, self.path);
            if object.contains_key(&key) {
                let path = path.to_string();
                let error =
                    <A::Error as de::Error>::custom(format_args!("the key `{path}` is repeated"));
                *self.duplicate.borrow_mut() = Some(path);
                return Err(error);
            }
            let value = map.next_value_seed(ValueSeed {
                path: &path,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_without_repeated_keys_parses_as_serde_json_parses_it() {
        let text = br#"{"a":[1,-2,3.5,1e300,18446744073709551615,"x\u00e9",true,null,{}],
            "b":{"c":{"d":[]}},"e":""}"#;
        let ours = from_slice(text).unwrap();
        let theirs: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn the_path_names_array_indexes_and_nested_keys() {
        match from_slice(br#"[{"a":1},{"b":{"c":[0,{"d":1,"d":2}]}}]"#) {
            Err(Invalid::DuplicateKey(path)) => assert_eq!(path, "[1].b.c[1].d"),
            other => panic!("expected a repeated key, got {other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_as_serde_json_refuses_it_not_by_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            from_slice(deep.as_bytes()),
            Err(Invalid::Syntax(_))
        ));
    }

    #[test]
    fn trailing_characters_are_refused() {
        assert!(matches!(
            from_slice(br#"{"a":1} x"#),
            Err(Invalid::Syntax(_))
        ));
    }
}
