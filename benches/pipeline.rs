//! Rows per second for CSV -> mapping -> payload on a generated 12-column, 200,000-row file,
//! next to the bare `csv` crate reading the same file (the ideal this stage can approach).
//!
//! Run: `cargo bench --bench pipeline`. Not part of CI.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: usize = 200_000;

fn generate(dir: &Path) {
    let file = std::fs::File::create(dir.join("contacts.csv")).expect("create csv");
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "Code,First name,Last name,Birthday,Phone,E-mail,Kind,Open,Amount,City,Tags,Notes")
        .expect("write");
    for i in 0..ROWS {
        writeln!(
            w,
            "C-{i:07},Name{i},Surname{},{:02}.{:02}.{},8 (916) {:03}-{:02}-{:02},user{i}@example.com,{},{},{}.{:02},City {},\"vip, news\",Some notes about row {i}",
            i % 977,
            1 + i % 28,
            1 + i % 12,
            1950 + i % 50,
            i % 1000,
            i % 100,
            (i / 100) % 100,
            ["Client", "Partner", "Supplier"][i % 3],
            ["yes", "no"][i % 2],
            i % 100_000,
            i % 100,
            i % 300,
        )
        .expect("write");
    }
    w.flush().expect("flush");
    std::fs::write(
        dir.join("contacts.toml"),
        r#"name = "contacts"
[source]
path = "contacts.csv"
key = "Code"
[target]
entity = "contact"
[fields]
name = "First name"
lastName = { column = "Last name", required = true }
birthdate = { column = "Birthday", type = "date", formats = ["%d.%m.%Y"] }
typeId = { column = "Kind", map = { "Client" = "CLIENT", "Partner" = "PARTNER", "Supplier" = "SUPPLIER" } }
opened = { column = "Open", type = "bool" }
opportunity = { column = "Amount", type = "number" }
addressCity = "City"
ufCrm_1700000001 = { column = "Tags", split = ",", multiple = true }
comments = "Notes"
[[fm]]
type = "PHONE"
column = "Phone"
[[fm]]
type = "EMAIL"
column = "E-mail"
"#,
    )
    .expect("write mapping");
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    generate(dir.path());
    let csv_path = dir.path().join("contacts.csv");
    let mapping = dir.path().join("contacts.toml");

    let mut group = c.benchmark_group("csv_200k_rows");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("bare_csv_crate", |b| {
        b.iter(|| {
            let mut reader = csv::Reader::from_path(&csv_path).expect("open");
            let mut record = csv::StringRecord::new();
            let mut n = 0usize;
            while reader.read_record(&mut record).expect("read") {
                n += record.len();
            }
            black_box(n)
        })
    });
    group.bench_function("b24import_read_map_payload", |b| {
        b.iter(|| {
            let file = b24import::pipeline::load_mapping(&mapping).expect("mapping");
            let step = b24import::pipeline::Step::open(file).expect("step");
            let (_plan, rows, _bytes, _size) = step.prepare();
            let mut valid = 0usize;
            for row in rows {
                if row.expect("row").outcome.is_ok() {
                    valid += 1;
                }
            }
            assert_eq!(valid, ROWS);
            black_box(valid)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
