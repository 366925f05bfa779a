//! `smtpwatch completions SHELL` and `smtpwatch man`: shell completions and man pages made
//! from the command-line definitions themselves, so they cannot drift from the flags.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "smtpwatch", out);
}

/// Writes `smtpwatch.1` and one page per subcommand (`smtpwatch-check.1`, …) into `dir`;
/// returns the files written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let command = Cli::command();
    let mut written = Vec::new();
    let mut page = |name: String, command: clap::Command| -> std::io::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)?;
        clap_mangen::Man::new(command.name(name.clone())).render(&mut file)?;
        written.push(path);
        Ok(())
    };
    page("smtpwatch".into(), command.clone())?;
    for sub in command.get_subcommands() {
        let name = format!("smtpwatch-{}", sub.get_name());
        page(name.clone(), sub.clone())?;
        for nested in sub.get_subcommands() {
            page(format!("{name}-{}", nested.get_name()), nested.clone())?;
        }
    }
    Ok(written)
}

/// Writes the main page to `out` (`smtpwatch man` without `--dir`).
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_gets_a_page_and_every_shell_a_script() {
        let dir = std::env::temp_dir().join(format!("smtpwatch-man-{}", std::process::id()));
        let pages = man_pages(&dir).expect("pages");
        let names: Vec<String> = pages
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        for wanted in [
            "smtpwatch.1",
            "smtpwatch-check.1",
            "smtpwatch-run.1",
            "smtpwatch-config-check.1",
        ] {
            assert!(
                names.iter().any(|n| n == wanted),
                "{wanted} missing: {names:?}"
            );
        }
        let check = std::fs::read_to_string(dir.join("smtpwatch-check.1")).expect("page");
        assert!(check.contains("deliver\\-to"), "flags documented");
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let text = String::from_utf8_lossy(&out);
            assert!(
                text.contains("--deliver-to") || text.contains("deliver-to"),
                "{shell:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
