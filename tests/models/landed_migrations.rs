//! A migration that has landed is never edited: a database migrated with the
//! old text would not match the new one. `migration/landed.sha256` lists each
//! migration file with its SHA-256 and only ever grows: a new migration adds
//! its line (`cd migration/src && sha256sum m2*.rs > ../landed.sha256`), a
//! change of schema adds a new migration.

use std::{collections::BTreeMap, path::Path};

use sha2::{Digest, Sha256};

fn migrations_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migration")
}

fn landed() -> BTreeMap<String, String> {
    std::fs::read_to_string(migrations_dir().join("landed.sha256"))
        .expect("migration/landed.sha256")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (hash, file) = l.split_once("  ").expect("`<sha256>  <file>` lines");
            (file.to_string(), hash.to_string())
        })
        .collect()
}

fn sha256_of(file: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(file).unwrap()))
}

#[test]
fn no_landed_migration_was_edited_or_removed() {
    for (file, hash) in landed() {
        let path = migrations_dir().join("src").join(&file);
        assert!(path.is_file(), "landed migration {file} was removed");
        assert_eq!(
            sha256_of(&path),
            hash,
            "landed migration {file} was edited: undo the edit and add a new migration"
        );
    }
}

#[test]
fn every_migration_is_listed_as_landed() {
    let landed = landed();
    for entry in std::fs::read_dir(migrations_dir().join("src")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with('m') && name.ends_with(".rs") {
            assert!(
                landed.contains_key(&name),
                "{name} is not in migration/landed.sha256: add its line"
            );
        }
    }
}
