//! Every TOML example in the README is a real file: the block equals the file, and the file
//! loads and compiles against its source.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (file named in the `<!-- file: ... -->` marker, the code block that follows it).
fn examples() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("<!-- file: ") {
            let file = rest.trim_end_matches(" -->").to_string();
            assert_eq!(lines.next(), Some("```toml"), "a code block must follow the marker of {file}");
            let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((file, block.join("\n") + "\n"));
        }
    }
    out
}

#[test]
fn every_toml_block_in_the_readme_names_its_file() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    assert_eq!(readme.matches("```toml").count(), examples().len());
    assert!(examples().len() >= 4);
}

#[test]
fn readme_examples_match_their_files_and_compile() {
    for (file, block) in examples() {
        let path = repo().join(&file);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(block, on_disk, "README block differs from {file}");
        let step = b24import::pipeline::load_mapping(&path)
            .map_err(|e| e.to_string())
            .and_then(|m| b24import::pipeline::Step::open(m).map_err(|e| e.to_string()));
        assert!(step.is_ok(), "{file}: {}", step.err().unwrap_or_default());
    }
}
