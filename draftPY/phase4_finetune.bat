@ECHO OFF
REM Phase 4 - fine-tune: lower learning rates (G 5e-5, D 2e-5), D-FiLM on, lambda_kl 1e-1.
REM Starts from phase3's best checkpoint (RUN_DIR\phase3) unless LOAD_CHECKPOINT is set.
REM Writes RUN_DIR\phase4 (RUN_DIR default: runs\wubugaad_run). Edit the SET lines below, or any SET
REM line of run_vaegan.bat; EPOCHS is absolute (the epoch count continues across phases).
REM See TRAINING_GUIDE.md.

setlocal EnableExtensions
IF NOT DEFINED RUN_DIR SET "RUN_DIR=%~dp0..\runs\wubugaad_run"
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-1"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=true"
IF NOT DEFINED LEARNING_RATE_GEN SET "LEARNING_RATE_GEN=5e-5"
IF NOT DEFINED LEARNING_RATE_DISC SET "LEARNING_RATE_DISC=2e-5"
IF NOT DEFINED EPOCHS SET "EPOCHS=150"
CALL "%~dp0run_phase.bat" phase4 phase3 phase3_disc_film.bat
endlocal & exit /b %ERRORLEVEL%
