//! docs/SPEC.md section 5 against the binary's own definitions: every flag
//! the synopsis names exists on that command, and every flag the command
//! has is in the synopsis, so the two cannot drift.

use std::collections::BTreeSet;

use clap::CommandFactory;

/// The synopsis block of section 5: per command, the long flags it names.
fn synopsis() -> Vec<(String, BTreeSet<String>)> {
    let spec = include_str!("../docs/SPEC.md");
    let section = spec
        .split("## 5. Command line")
        .nth(1)
        .and_then(|s| s.split("## 6.").next())
        .expect("section 5");
    let block = section
        .split("```")
        .nth(1)
        .expect("section 5 has a synopsis block");
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in block.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("pseudolink ") {
            let name = rest.split_whitespace().next().unwrap().to_string();
            out.push((name, BTreeSet::new()));
        }
        let Some((_, flags)) = out.last_mut() else {
            continue;
        };
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if let Some(flag) = word.strip_prefix("--") {
                flags.insert(flag.to_string());
            }
        }
    }
    out
}

#[test]
fn section_5_names_every_flag_of_every_command_and_no_other() {
    let cli = pseudolink::cli::Cli::command();
    let spec = synopsis();
    let commands: BTreeSet<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    let named: BTreeSet<String> = spec.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(named, commands, "commands in section 5 against the binary");
    for (name, flags) in &spec {
        let cmd = cli.find_subcommand(name).unwrap();
        let actual: BTreeSet<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(String::from))
            .filter(|l| l != "help" && l != "version")
            .collect();
        assert_eq!(flags, &actual, "{name}: section 5 against the binary");
    }
}

#[test]
fn exit_codes_are_documented_alike() {
    let spec = include_str!("../docs/SPEC.md");
    assert!(spec.contains("130\ninterrupted") || spec.contains("130 interrupted"));
    let help = pseudolink::cli::Cli::command()
        .render_long_help()
        .to_string();
    assert!(help.contains("130 interrupted"), "{help}");
}
