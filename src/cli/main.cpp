#include <iostream>

#include "cli/commands.h"
#include "likeness/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Likeness: private, offline face search for photo collections.\n"
      "Nothing leaves this machine: models are read from the local models directory only."};
  app.set_version_flag("--version", std::string("likeness ") + LIKENESS_CLI_VERSION);
  app.require_subcommand(1);

  likeness::cli::GlobalOptions global;
  app.add_option("--models", global.models_dir,
                 "Models directory (default: $LIKENESS_MODELS or ~/.local/share/likeness/models)")
      ->envname("LIKENESS_MODELS");

  int exit_code = 0;
  likeness::cli::register_models_command(app, global, exit_code);
  likeness::cli::register_detect_command(app, global, exit_code);
  likeness::cli::register_compare_command(app, global, exit_code);
  likeness::cli::register_embed_command(app, global, exit_code);
  likeness::cli::register_index_command(app, global, exit_code);
  likeness::cli::register_search_command(app, global, exit_code);
  likeness::cli::register_library_command(app, global, exit_code);
  likeness::cli::register_people_command(app, global, exit_code);
  likeness::cli::register_serve_command(app, global, exit_code);
  likeness::cli::register_analyze_command(app, global, exit_code);
  likeness::cli::register_erase_command(app, global, exit_code);
  likeness::cli::register_export_command(app, global, exit_code);
  likeness::cli::register_privacy_command(app, global, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const likeness::Error& e) {
    std::cerr << "likeness: " << e.what() << '\n';
    return 1;
  }
  return exit_code;
}
