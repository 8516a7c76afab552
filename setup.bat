@ECHO OFF
REM WuBuGAADHybridGen set-up (Windows). Linux/macOS twin: setup.sh.
REM
REM Creates venv, installs PyTorch (a CUDA build when nvcc is found, else the CPU build), then
REM requirements.txt, and checks the install by importing the package. It never downloads datasets and
REM never rewrites requirements.txt. Override the wheel index with SET TORCH_INDEX_URL=... beforehand.

setlocal EnableExtensions
cd /d "%~dp0"
SET "TORCH_VERSION=2.14.1"
SET "TORCHVISION_VERSION=0.29.1"
IF NOT DEFINED PYTHON_EXE SET "PYTHON_EXE=python"

IF NOT EXIST "venv\Scripts\python.exe" (
    ECHO Creating venv with %PYTHON_EXE% ...
    "%PYTHON_EXE%" -m venv venv
    IF ERRORLEVEL 1 GOTO :fail_venv
)
SET "PY=venv\Scripts\python.exe"
"%PY%" -m pip install --upgrade pip
IF ERRORLEVEL 1 GOTO :fail

IF DEFINED TORCH_INDEX_URL GOTO :install_torch
SET "TAG=cpu"
WHERE nvcc >NUL 2>&1
IF ERRORLEVEL 1 GOTO :cpu
REM "Cuda compilation tools, release 12.8, V12.8.93" -> token 5 = 12.8
FOR /F "tokens=5 delims=, " %%A IN ('nvcc --version ^| findstr /C:"release"') DO SET "CUDA_VERSION=%%A"
FOR /F "tokens=1,2 delims=." %%A IN ("%CUDA_VERSION%") DO (
    SET "CUDA_MAJOR=%%A"
    SET "CUDA_MINOR=%%B"
)
SET "TAG=cu126"
IF %CUDA_MAJOR% EQU 12 IF %CUDA_MINOR% GEQ 8 SET "TAG=cu128"
IF %CUDA_MAJOR% GEQ 13 SET "TAG=cu130"
ECHO nvcc %CUDA_VERSION% found: installing the %TAG% build of PyTorch
GOTO :set_index
:cpu
ECHO nvcc not found: installing the CPU build of PyTorch
:set_index
SET "TORCH_INDEX_URL=https://download.pytorch.org/whl/%TAG%"

:install_torch
"%PY%" -m pip install torch==%TORCH_VERSION% torchvision==%TORCHVISION_VERSION% --index-url %TORCH_INDEX_URL%
IF ERRORLEVEL 1 GOTO :fail
"%PY%" -m pip install -r requirements.txt
IF ERRORLEVEL 1 GOTO :fail
"%PY%" -c "import sys; sys.path.insert(0, 'draftPY'); import wubugaad.model, torch; print('wubugaad OK; torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())"
IF ERRORLEVEL 1 GOTO :fail
ECHO Set-up done. Open a shell in the venv with venv.bat; train with run_vaegan.bat.
IF /I "%PAUSE_AT_END%"=="true" PAUSE
endlocal & exit /b 0

:fail_venv
ECHO ERROR: could not create venv - install Python 3.10+ from python.org and tick "Add to PATH". 1>&2
IF /I "%PAUSE_AT_END%"=="true" PAUSE
endlocal & exit /b 1

:fail
ECHO ERROR: set-up failed - see the messages above. 1>&2
IF /I "%PAUSE_AT_END%"=="true" PAUSE
endlocal & exit /b 1
